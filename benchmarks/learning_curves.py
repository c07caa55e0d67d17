"""Per-skill learning curves in the controlled setting (issue 26, item 3): does a skill's dev accuracy rise with the
rows of that skill in a fixed training budget? Only such skills can show whether a method allocates a budget well.

    .venv/bin/python benchmarks/learning_curves.py [--work_dir runs/learning_curves] [--budget 240] [--seeds 1]

For every domain skill s and k in --shares: SFT of the preset's student on ``budget`` rows, k of them of skill s and
the rest drawn uniformly from the other skills; s's dev accuracy is read (dev only: the test split is not touched).
Results are written after each run (a rerun resumes) to --out, one row per (skill, rows of the skill, seed).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="runs/learning_curves")
    parser.add_argument("--data_seed", type=int, default=3)
    parser.add_argument("--budget", type=int, default=240)
    parser.add_argument("--shares", default="0,0.25,0.5,1.0", help="shares of the budget given to the skill")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--lr", default=None, help="--adam.lr of every run (default: the preset's)")
    parser.add_argument("--skills", default=None, help="comma-separated skills (default: every domain skill)")
    parser.add_argument("--out", default="benchmarks/results/learning_curves.json")
    parser.add_argument(
        "--preset_flags",
        default="",
        help="more --compare.* flags of the preset, e.g. the 2026-12-01 readings' student: '--compare.weak_skills "
        "reverse,sort,rotate --compare.pretrain_steps 1500 --compare.pretrain_weak 400'",
    )
    opts = parser.parse_args()

    from openrlhf_weakness.cli.compare import build_context
    from openrlhf_weakness.experiment.arms import sft
    from openrlhf_weakness.experiment.cells import score_model
    from openrlhf_weakness.io import write_json

    argv = [
        "--compare.preset",
        "controlled",
        "--compare.data_seed",
        str(opts.data_seed),
        "--compare.arms",
        "sft_uniform",
    ]
    argv += opts.preset_flags.split()
    argv += ["--compare.work_dir", opts.work_dir, "--", "--train.max_epochs", "3", "--ds.param_dtype", "fp32"]
    argv += ["--adam.lr", opts.lr] if opts.lr else []
    ctx, _ = build_context(argv)
    key = ctx.data.keys.datasource_key
    pool, dev = ctx.rows("pool"), ctx.rows("dev")
    skills = opts.skills.split(",") if opts.skills else sorted({r[key] for r in pool})
    out = Path(opts.out)
    results = json.loads(out.read_text())["runs"] if out.exists() else []
    done = {(r["skill"], r["rows"], r["seed"]) for r in results}
    base = score_model(ctx, ctx.model, ["dev"])["dev"]
    base_acc = {s: _mean([v for v, r in zip(base, dev) if r[key] == s]) for s in skills}
    print(f"base dev accuracy per skill: {base_acc}", flush=True)
    for seed in range(opts.seeds):
        for skill in skills:
            for share in [float(x) for x in opts.shares.split(",")]:
                k = round(opts.budget * share)
                if (skill, k, seed) in done:
                    continue
                rng = random.Random(f"{seed}-{skill}-{k}")
                own = [r for r in pool if r[key] == skill]
                others = [r for r in pool if r[key] != skill]
                rows = rng.sample(own, k) + rng.sample(others, opts.budget - k)
                model = sft(ctx, ctx.plan, rows, f"curve-{skill}-{k}-lr{opts.lr or 'preset'}", seed)
                scores = score_model(ctx, model, ["dev"])["dev"]
                acc = {s: _mean([v for v, r in zip(scores, dev) if r[key] == s]) for s in skills}
                results.append({"skill": skill, "rows": k, "seed": seed, "dev_accuracy": acc[skill], "all": acc})
                write_json(out, {"budget": opts.budget, "lr": opts.lr or "preset", "base": base_acc, "runs": results})
                print(f"{skill} with {k}/{opts.budget} rows (seed {seed}): dev {acc[skill]:.3f}", flush=True)
    _print_table(results, skills, base_acc)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _print_table(results: list[dict], skills: list[str], base: dict) -> None:
    ks = sorted({r["rows"] for r in results})
    print("| skill | base | " + " | ".join(f"{k} rows" for k in ks) + " |")
    print("|---|---|" + "---|" * len(ks))
    for s in skills:
        cells = []
        for k in ks:
            vals = [r["dev_accuracy"] for r in results if r["skill"] == s and r["rows"] == k]
            cells.append(f"{_mean(vals):.3f}" if vals else "")
        print(f"| {s} | {base[s]:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
