"""The embedded demo (``make demo-smollm``): does APT make SmolLM2-135M-Instruct better at reasoning-gym arithmetic
than a same-budget SFT baseline and DPO without the SFT term? On CPU, offline.

    python -m openrlhf_weakness.cli.demo [--demo.iterations 2 --demo.train 64 ...]

A thin call of ``cli.compare`` on the demo's data (built once under ``--demo.work_dir``; rerunning resumes): one
seed, the table printed and written beside ``summary.json`` there, APT's own report under ``apt-s0/``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, flag, from_namespace, nested


@dataclass
class DemoConfig:
    """Demo sizes (the defaults fit about 15 minutes on 2 CPU cores)."""

    work_dir: str = flag("runs/demo", "where data, the converted model, runs and results go")
    iterations: int = flag(2, "APT iterations")
    train: int = flag(64, "domain training questions answered each iteration")
    dev: int = flag(32, "domain dev questions (the loop's stop rule)")
    test: int = flag(64, "held-out domain test questions (the reported numbers)")
    pool: int = flag(400, "retrieval pool size")
    guard: int = flag(32, "out-of-domain guard questions (gcd)")
    max_new_tokens: int = flag(32, "new tokens per answer")
    lr: float = flag(2e-5, "learning rate of every training run (APT and baselines)")
    epochs: int = flag(1, "epochs of every training run")
    sft_coef: float = flag(0.5, "APT's alpha")
    skip_baselines_enable: bool = flag(False, "only run APT")


def _train_common(cfg: DemoConfig) -> list[str]:
    """Training flags shared by APT and both baselines: same batches, steps and learning rate (also read by
    benchmarks/bench_apt_iteration.py)."""
    from openrlhf_weakness.patches import cpu_training_dtype_args

    argv = ["--train.micro_batch_size", "8", "--train.batch_size", "16", "--train.max_epochs", str(cfg.epochs)]
    return argv + ["--adam.lr", str(cfg.lr), "--data.max_len", "160", *cpu_training_dtype_args()]


def compare_argv(cfg: DemoConfig, data: dict, student: str) -> list[str]:
    """cli.compare's flags for the demo: its data and student, reasoning-gym's scorer, the same budget for every
    arm."""
    from openrlhf_weakness.demo import rg_score

    work = Path(cfg.work_dir)
    arms = "apt" if cfg.skip_baselines_enable else "apt,sft_same_budget,dpo_only"
    argv = ["--gen.model", student, "--gen.max_new_tokens", str(cfg.max_new_tokens), "--gen.batch_size", "16"]
    argv += ["--gen.dtype", "bfloat16", "--gen.chat_template_enable", "--gen.cache_dir", str(work / "cache")]
    argv += [t for split, path in data.items() for t in (f"--data.{split}", path)]
    argv += ["--assess.assessor", "function", "--assess.function_path", rg_score.__file__, "--assess.num_workers", "1"]
    argv += ["--retrieve.tagger", "field", "--retrieve.tag_key", "datasource"]
    argv += ["--retrieve.cache_dir", str(work / "embeddings")]
    argv += ["--loop.iterations", str(cfg.iterations), "--loop.patience", str(cfg.iterations)]
    argv += ["--loop.guard_max_drop", "0.2", "--compare.arms", arms, "--compare.seeds", "1"]
    argv += ["--compare.work_dir", str(work), "--", *_train_common(cfg)]
    return argv + ["--model.beta", "0.1", "--apt.sft_coef", str(cfg.sft_coef)]


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.demo", description=__doc__.splitlines()[0])
    add_flags(parser, DemoConfig, "demo")
    cfg = from_namespace(DemoConfig, nested(parser.parse_args(argv)).demo)
    from openrlhf_weakness.cli import compare
    from openrlhf_weakness.demo.data import build_demo_data
    from openrlhf_weakness.demo.student import StudentMissing, student_model

    work = Path(cfg.work_dir)
    data = build_demo_data(work / "data", cfg.train, cfg.dev, cfg.test, cfg.pool, cfg.guard)
    try:
        student = student_model(work / "models")
    except StudentMissing as err:
        raise CliError("demo", err) from None
    return compare.main(compare_argv(cfg, data, student))


if __name__ == "__main__":
    sys.exit(main())
