"""The STAT-Sel demo (``make demo-stat-smollm``): SmolLM2-135M-Instruct, reasoning-gym generators as skills (no
teacher needed), the Missing-Skill-Profile from its dev failures, SFT on a STAT-Sel draw against uniform SFT of the
same size; per-skill scores on held-out test questions.

    python -m openrlhf_weakness.cli.demo_stat [--work_dir runs/demo_stat --size 128]

A thin call of ``cli.compare`` (arms stat_sel and sft_uniform, one seed) on the demo's data; STAT's profile is in
``stat-s0/profile.json`` under the work directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openrlhf_weakness.cli import CliError, cli_entry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.demo_stat", description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="runs/demo_stat")
    parser.add_argument("--train", type=int, default=60, help="training questions per skill")
    parser.add_argument("--dev", type=int, default=16, help="dev questions per skill (finding the profile)")
    parser.add_argument("--test", type=int, default=24, help="test questions per skill (the reported numbers)")
    parser.add_argument("--size", type=int, default=128, help="SFT examples, for STAT-Sel and for uniform SFT")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--subskills_enable",
        action="store_true",
        help="profile over finer skills (operator, digits, terms, carry, borrow, negatives) as well",
    )
    return parser


def compare_argv(opts: argparse.Namespace, paths: dict, student: str) -> list[str]:
    from openrlhf_weakness.demo import rg_score
    from openrlhf_weakness.patches import cpu_training_dtype_args

    work = Path(opts.work_dir)
    argv = ["--gen.model", student, "--gen.max_new_tokens", "32", "--gen.batch_size", "16", "--gen.dtype", "bfloat16"]
    argv += ["--gen.chat_template_enable", "--gen.cache_dir", str(work / "cache")]
    argv += ["--data.pool", paths["train"], "--data.dev", paths["dev"], "--data.test", paths["test"]]
    argv += ["--data.input_key", "input", "--data.output_key", "output", "--data.datasource_key", "skill"]
    argv += ["--assess.assessor", "function", "--assess.function_path", rg_score.__file__]
    argv += ["--stat.skill_key", "subskills" if opts.subskills_enable else "skill", "--stat.size", str(opts.size)]
    argv += ["--compare.arms", "stat_sel,sft_uniform", "--compare.seeds", "1", "--compare.work_dir", str(work)]
    argv += ["--", "--train.micro_batch_size", "8", "--train.batch_size", "16", "--data.max_len", "160"]
    argv += ["--train.max_epochs", str(opts.epochs), "--adam.lr", str(opts.lr), *cpu_training_dtype_args()]
    return argv


@cli_entry
def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    from openrlhf_weakness.cli import compare
    from openrlhf_weakness.demo.data import build_stat_data
    from openrlhf_weakness.demo.student import StudentMissing, student_model

    paths = build_stat_data(Path(opts.work_dir) / "data", opts.train, opts.dev, opts.test)
    try:
        student = student_model(Path("runs/demo") / "models")
    except StudentMissing as err:
        raise CliError("demo_stat", err) from None
    return compare.main(compare_argv(opts, paths, student))


if __name__ == "__main__":
    sys.exit(main())
