"""Quality experiment: do APT and STAT-Sel make a model better than the same training budget spent on plain SFT?

    .venv/bin/python benchmarks/quality.py --setting controlled|real [--seeds 3] [--lr 1e-3]

A thin call of ``python -m openrlhf_weakness.cli.compare --compare.preset <setting>`` (the library in
``openrlhf_weakness/experiment/``): this script's flags are translated to compare's, the training flags go after
``--``. Flags left out keep the preset's values. Output: JSON, a markdown table, a plot and per-question scores with
95% paired-bootstrap intervals (default ``benchmarks/results/quality_<setting>.json``).
"""

from __future__ import annotations

import argparse
import sys

ARMS = ("apt", "sft_same_budget", "dpo_only", "stat_sel", "sft_uniform")
# this script's flag -> (compare's flag, after "--": a training flag shared by every arm)
FLAGS = {
    "seeds": ("--compare.seeds", False),
    "arms": ("--compare.arms", False),
    "iterations": ("--loop.iterations", False),
    "ref_policy": ("--loop.ref_policy", False),
    "retrieve_scale": ("--retrieve.scale", False),
    "chosen": ("--pairs.chosen", False),
    "rejected": ("--pairs.rejected", False),
    "samples": ("--pairs.samples", False),
    "stat_k": ("--stat.k", False),
    "stat_rows": ("--stat.size", False),
    "pretrain_steps": ("--compare.pretrain_steps", False),
    "pretrain_weak": ("--compare.pretrain_weak", False),
    "data_seed": ("--compare.data_seed", False),
    "lr": ("--adam.lr", True),
    "epochs": ("--train.max_epochs", True),
    "sft_coef": ("--apt.sft_coef", True),
    "sft_norm": ("--apt.sft_norm", True),
    "beta": ("--model.beta", True),
    "param_dtype": ("--ds.param_dtype", True),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="controlled", choices=["controlled", "real"])
    parser.add_argument("--work_dir", default=None, help="default runs/quality_<setting>")
    parser.add_argument("--out", default=None, help="default benchmarks/results/quality_<setting>.json")
    parser.add_argument("--dev_only_enable", action="store_true", help="score dev and guard only, compare on dev")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms (cli.compare --help lists them)")
    for name in FLAGS:
        if name != "arms":
            parser.add_argument(f"--{name}", default=None, help=f"as {FLAGS[name][0]} (default: the preset's)")
    return parser


def compare_argv(opts: argparse.Namespace) -> list[str]:
    """cli.compare's argv for this script's options."""
    argv = ["--compare.preset", opts.setting, "--compare.work_dir", opts.work_dir or f"runs/quality_{opts.setting}"]
    argv += ["--compare.out", opts.out or f"benchmarks/results/quality_{opts.setting}.json"]
    argv += ["--compare.dev_only_enable"] if opts.dev_only_enable else []
    training = []
    for name, (target, after) in FLAGS.items():
        value = getattr(opts, name)
        if value is not None:
            (training if after else argv).extend([target, str(value)])
    return argv + ["--", *training]


def main(argv: list[str] | None = None) -> int:
    from openrlhf_weakness.cli import compare

    return compare.main(compare_argv(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
