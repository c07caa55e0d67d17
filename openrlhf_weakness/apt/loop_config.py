"""The ``--loop.*`` flags of the APT loop (``cli.apt``); training flags (after ``--``) go to ``cli.train_apt``."""

from __future__ import annotations

from dataclasses import dataclass, field

from openrlhf_weakness.config import flag

# cli.train_apt flags the loop sets itself each iteration: refused among the training flags.
LOOP_SETS_TRAINING = (
    "--model.model_name_or_path",
    "--ref.model_name_or_path",
    "--data.dataset",
    "--data.prompt_key",
    "--apt.weight_key",
    "--ckpt.output_dir",
    "--data.apply_chat_template",
)


@dataclass
class APTLoopConfig:
    """APT loop (answer, assess, mine, retrieve, pair, train, evaluate, repeat)."""

    model: str | None = flag(None, "the starting model (HF folder or name)", required=True)
    run_dir: str = flag("runs/apt", "run directory: a folder per iteration, a manifest, a report")
    iterations: int = flag(2, "iterations T")
    ref_policy: str = flag(
        "previous", "reference model of iteration t: previous (M_t) or initial (M_0)", choices=["previous", "initial"]
    )
    patience: int = flag(1, "stop after this many iterations without a domain (dev) gain")
    min_gain: float = flag(0.0, "a dev gain must exceed this to count")
    guard_max_drop: float = flag(0.1, "stop when the guard score falls more than this below the starting model's")
    train_args: list[str] = field(default_factory=list)  # cli.train_apt / train_dpo flags: cli.apt's args after --
    launcher_enable: bool = flag(
        False, "start training with the deepspeed launcher (default: on when CUDA is present)"
    )
    hostfile: str | None = flag(
        None, "deepspeed hostfile: train on several nodes (deepspeed --hostfile; implies the launcher)"
    )
    eval_max_new_tokens: int = flag(0, "new tokens when evaluating (0: same as --gen.max_new_tokens)")
