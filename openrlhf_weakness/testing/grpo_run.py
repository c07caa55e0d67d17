"""Run ``cli.train_grpo`` (OpenRLHF's ``train_ppo_ray`` through the vLLM stand-in) in a child process and read back
what OpenRLHF logged, for tests, the doctor and the benchmark."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STEP_LINE = re.compile(r"Global step (\d+): (\{.*\})")
EVAL_LINE = re.compile(r"Evaluation completed in .*?, global_step (\d+), eval_metrics: (\{.*\})")


@dataclass
class GrpoRun:
    returncode: int
    output: str
    seconds: float
    steps: dict[int, dict] = field(default_factory=dict)  # OpenRLHF's logged status per global step
    evals: dict[int, dict] = field(default_factory=dict)


def _literal(text: str) -> dict:
    return ast.literal_eval(re.sub(r"\b(nan|inf)\b", "None", text))


def parse_logs(output: str) -> tuple[dict[int, dict], dict[int, dict]]:
    steps = {int(m.group(1)): _literal(m.group(2)) for m in STEP_LINE.finditer(output)}
    evals = {int(m.group(1)): _literal(m.group(2)) for m in EVAL_LINE.finditer(output)}
    return steps, evals


def run_train_grpo(argv: list[str], env: dict | None = None, timeout: float = 900) -> GrpoRun:
    """``python -m openrlhf_weakness.cli.train_grpo argv`` with ``env`` added to this environment."""
    import time

    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.train_grpo", *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    steps, evals = parse_logs(output)
    return GrpoRun(proc.returncode, output, time.perf_counter() - started, steps, evals)


def write_addition_prompts(path: str | os.PathLike, count: int, seed: int = 0, datasource: str = "add") -> Path:
    """Prompt rows in OpenRLHF's RL shape: ``input``, a JSON ``label`` with the answer and skill, and a top-level
    ``datasource`` (OpenRLHF logs ``eval_<datasource>_pass1`` from it)."""
    import random

    from openrlhf_weakness.stat.grpo_export import grpo_prompt_rows

    rng = random.Random(seed)
    pairs = [(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(count)]
    rows = [{"input": f"What is {a} plus {b}?", "answer": str(a + b)} for a, b in pairs]
    out = Path(path)
    out.write_text(
        "".join(json.dumps(r) + "\n" for r in grpo_prompt_rows(rows, [[datasource]] * count, "input", "answer"))
    )
    return out


def tiny_grpo_argv(model: str, prompts: str, out_dir: str, hook: str, steps: int = 2, **overrides) -> list[str]:
    """train_ppo_ray flags for a few GRPO steps on a tiny model: group_norm, 8 prompts x 4 samples per step, one-token
    answers, a constant learning rate high enough for a tiny model to learn a simple preference in a few steps."""
    flags = {
        "--actor.model_name_or_path": model,
        "--reward.remote_url": hook,
        "--data.prompt_dataset": prompts,
        "--data.input_key": "input",
        "--data.label_key": "label",
        "--rollout.batch_size": "8",
        "--rollout.micro_batch_size": "8",
        "--rollout.n_samples_per_prompt": "4",
        "--rollout.max_new_tokens": "1",
        "--rollout.temperature": "1.0",
        "--data.max_len": "64",
        "--data.max_samples": str(8 * steps),
        "--train.batch_size": "16",
        "--train.micro_batch_size": "8",
        "--train.max_epochs": "1",
        "--train.num_episodes": "1",
        "--algo.advantage.estimator": "group_norm",
        "--algo.kl.init_coef": "0",
        "--actor.num_gpus_per_node": "1",
        "--ds.zero_stage": "2",
        "--ds.param_dtype": "fp32",
        "--actor.adam.lr": "1e-2",
        "--actor.lr_scheduler": "constant",
        "--actor.lr_warmup_ratio": "0",
        "--ckpt.output_dir": out_dir,
        "--ckpt.path": os.path.join(out_dir, "ckpt"),
    }
    flags.update({k if k.startswith("--") else f"--{k}": v for k, v in overrides.items()})
    argv = ["--data.apply_chat_template"]
    for name, value in flags.items():
        if value is not None:
            argv += [name, str(value)]
    return argv
