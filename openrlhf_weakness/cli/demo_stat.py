"""The STAT-Sel demo (``make demo-stat``): SmolLM2-135M-Instruct, reasoning-gym generators as skills (no teacher
needed), the Missing-Skill-Profile from its dev failures, SFT on a STAT-Sel draw against uniform SFT of the same
size; per-skill accuracy on held-out test questions before and after.

    python -m openrlhf_weakness.cli.demo_stat [--work_dir runs/demo_stat --size 128]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from openrlhf_weakness.cli import cli_entry

SKILLS = {
    "chain_sum": ("chain_sum", dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2)),
    "basic_arithmetic": (
        "basic_arithmetic",
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2, operators=("+", "-")),
    ),
    "basic_arithmetic_mul": ("basic_arithmetic_mul", {}),
    "gcd": ("gcd", dict(min_value=1, max_value=50)),
    "lcm": ("lcm", {}),
    "count_bits": ("count_bits", {}),
}


def build_data(out: Path, train: int, dev: int, test: int) -> dict[str, str]:
    """Per skill (generator): train rows with the answer as output, dev and test rows; disjoint questions. Every row
    also carries ``subskills``: its skill plus the finer labels of its expression (operator, digits, carry, ...)."""
    from openrlhf_weakness.demo.data import _rows
    from openrlhf_weakness.io import write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    paths = {s: str(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    if all(Path(p).exists() for p in paths.values()) and '"subskills"' in Path(paths["train"]).read_text()[:4000]:
        return paths
    from openrlhf_weakness.stat.subskills import reasoning_gym_skills

    splits = {"dev": [], "test": [], "train": []}
    seen: set = set()
    for skill, (name, config) in SKILLS.items():
        for split, size, seed in (("dev", dev, 22), ("test", test, 33), ("train", train, 11)):
            for row in _rows(name, config, size, seed, seen):
                answer = json.loads(row["reference"])["answer"]
                subskills = [skill, *reasoning_gym_skills(row["reference"])[1:]]
                splits[split].append(
                    {
                        "input": row["prompt"],
                        "output": answer,
                        "reference": row["reference"],
                        "skill": skill,
                        "subskills": subskills,
                    }
                )
    for split, rows in splits.items():
        write_jsonl(paths[split], rows)
    return paths


def per_skill_accuracy(model: str, rows: list[dict], cache_dir: Path, desc: str) -> dict[str, float]:
    from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
    from openrlhf_weakness.assess.function import FunctionAssessor
    from openrlhf_weakness.backends.cache import ResponseCache
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.hf import HFBackend
    from openrlhf_weakness.demo import rg_score

    backend = HFBackend(model, batch_size=16, dtype="bfloat16", chat_template=True)
    scored, _ = answer_and_assess(
        backend,
        FunctionAssessor(rg_score.__file__),
        rows,
        SamplingParams(max_new_tokens=32),
        RowKeys(input="input"),
        4,
        ResponseCache(cache_dir),
        desc,
    )
    by_skill: dict[str, list[float]] = {}
    for r in scored:
        by_skill.setdefault(r["skill"], []).append(0.0 if r["score"] is None else (r["score"] - 1) / 4)
    out = {s: sum(v) / len(v) for s, v in sorted(by_skill.items())}
    out["all"] = sum(sum(v) for v in by_skill.values()) / sum(len(v) for v in by_skill.values())
    return out


def sft(student: str, data: str, out: Path, log: Path, lr: float, epochs: int) -> str:
    from openrlhf_weakness.cli.demo import _train_once
    from openrlhf_weakness.patches import cpu_training_dtype_args

    args = [
        "--model.model_name_or_path",
        student,
        "--data.dataset",
        data,
        "--data.input_key",
        "input",
        "--data.output_key",
        "output",
        "--data.apply_chat_template",
        "--ds.attn_implementation",
        "eager",
        "--train.micro_batch_size",
        "8",
        "--train.batch_size",
        "16",
        "--train.max_epochs",
        str(epochs),
        "--adam.lr",
        str(lr),
        "--data.max_len",
        "160",
        "--stat.weight_key",
        "",
        *cpu_training_dtype_args(),
    ]
    return _train_once("openrlhf_weakness.cli.train_stat_sft", args, out, log)


@cli_entry
def main(argv: list[str] | None = None) -> int:
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
    opts = parser.parse_args(argv)
    start = time.time()
    from openrlhf_weakness.cli import apply_patches
    from openrlhf_weakness.demo import rg_score
    from openrlhf_weakness.demo.student import StudentMissing, student_model
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.stat.skills import normalize_skill

    apply_patches("demo_stat")
    work = Path(opts.work_dir)
    paths = build_data(work / "data", opts.train, opts.dev, opts.test)
    try:
        student = student_model(Path("runs/demo") / "models")
    except StudentMissing as err:
        raise CliError("demo_stat", err) from None
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.cli import CliError
    from openrlhf_weakness.stat.config import StatConfig, StatData
    from openrlhf_weakness.stat.pipeline import StatError, StatPipeline

    gen = GenerationConfig(
        model=student,
        max_new_tokens=32,
        chat_template_enable=True,
        dtype="bfloat16",
        batch_size=16,
        cache_dir=str(work / "cache"),
    )
    assess = AssessConfig(assessor="function", function_path=rg_score.__file__)
    skill_key = "subskills" if opts.subskills_enable else "skill"
    cfg = StatConfig(
        run_dir=str(work / ("stat_subskills" if opts.subskills_enable else "stat")),
        skill_key=skill_key,
        size=opts.size,
    )
    try:
        pipeline = StatPipeline(cfg, StatData(train=paths["train"], dev=paths["dev"]), gen, GenerationConfig(), assess)
        try:
            pipeline.run()
        finally:
            pipeline.close()
    except StatError as err:
        raise CliError("demo_stat", err)
    train = [json.loads(line) for line in open(paths["train"])]
    uniform = random.Random(0).sample(train, min(opts.size, len(train)))
    write_jsonl(work / "uniform.jsonl", uniform)
    models = {
        "base": student,
        "STAT-Sel SFT": sft(
            student,
            str(Path(cfg.run_dir) / "stat_sel_draw.jsonl"),
            Path(cfg.run_dir) / "sel_model",
            Path(cfg.run_dir) / "sel_train.log",
            opts.lr,
            opts.epochs,
        ),
        "uniform SFT (same size)": sft(
            student,
            str(work / "uniform.jsonl"),
            work / "uniform_model",
            work / "uniform_train.log",
            opts.lr,
            opts.epochs,
        ),
    }
    test = [json.loads(line) for line in open(paths["test"])]
    acc = {name: per_skill_accuracy(m, test, work / "cache", f"test ({name})") for name, m in models.items()}
    profile = json.loads((Path(cfg.run_dir) / "profile.json").read_text())
    draw = [json.loads(line)["skill"] for line in open(Path(cfg.run_dir) / "stat_sel_draw.jsonl")]
    skills = list(SKILLS)
    lines = [
        "| skill | missing in (of %d difficult) | share of STAT-Sel set | " % profile["difficult_questions"]
        + " | ".join(models)
        + " |",
        "|---|---|---|" + "---|" * len(models),
    ]
    for s in skills + ["all"]:
        missing = profile["counts"].get(normalize_skill(s), 0) if s != "all" else profile["difficult_questions"]
        share = f"{draw.count(s) / len(draw):.2f}" if s != "all" else "1.00"
        lines.append(f"| {s} | {missing} | {share} | " + " | ".join(f"{acc[m][s]:.3f}" for m in models) + " |")
    if opts.subskills_enable:  # the finer skills the profile found missing, most first
        ranked = sorted(profile["counts"].items(), key=lambda kv: -kv[1])
        lines += [
            "",
            "Missing sub-skills (operator, digits, terms, carry, borrow, negatives): "
            + ", ".join(f"{k} {v}" for k, v in ranked),
        ]
    table = "\n".join(lines)
    text = (
        f"# STAT-Sel demo\n\nTest accuracy per skill (reasoning-gym `score_answer`, {opts.test} questions per "
        f"skill, greedy). SFT sets: {opts.size} examples each, {opts.epochs} epochs, lr {opts.lr}. "
        f"Wall time {(time.time() - start) / 60:.1f} min.\n\n{table}\n"
    )
    (work / "demo_stat_results.md").write_text(text)
    print("\n" + text)
    print(f"profile: {Path(cfg.run_dir) / 'profile.json'} and profile.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
