"""The ``--apt.*`` flags of the whole APT loop (``cli.apt``); training flags go to ``cli.train_apt`` verbatim."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag

# PairsConfig fields the loop sets itself (the iteration number; a similar case is bad by --assess.bad_below): not
# offered as --pairs.* flags on cli.apt, where they could only be overwritten.
LOOP_SETS_PAIRS = ("bad_below", "iteration")


@dataclass
class APTLoopConfig:
    """APT loop (answer, assess, mine, retrieve, pair, train, evaluate, repeat)."""

    model: str | None = flag(None, "the starting model (HF folder or name)")
    run_dir: str = flag("runs/apt", "run directory: a folder per iteration, a manifest, a report")
    iterations: int = flag(2, "iterations T")
    ref_policy: str = flag("previous", "reference model of iteration t: previous (M_t) or initial (M_0)",
                           choices=["previous", "initial"])  # fmt: skip
    patience: int = flag(1, "stop after this many iterations without a domain (dev) gain")
    min_gain: float = flag(0.0, "a dev gain must exceed this to count")
    guard_max_drop: float = flag(0.1, "stop when the guard score falls more than this below the starting model's")
    train_args: str = flag(
        "", "extra flags for cli.train_apt / OpenRLHF's train_dpo, e.g. '--adam.lr 1e-6 --ds.lora.rank 64'"
    )
    launcher_enable: bool = flag(
        False, "start training with the deepspeed launcher (default: on when CUDA is present)"
    )
    resume_force_enable: bool = flag(False, "resume a run directory written by another configuration")
    eval_max_new_tokens: int = flag(0, "new tokens when evaluating (0: same as --gen.max_new_tokens)")
