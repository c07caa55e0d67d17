"""The real setting's first step: SmolLM2-135M-Instruct's accuracy over a grid of reasoning-gym generators and
configurations (terms, digits, operators), greedy, scored by reasoning-gym's own ``score_answer`` on the last number.
A domain for the quality experiment needs mixed competence: some cells above 50%, some near 0 but learnable.

    .venv/bin/python benchmarks/rg_competence_grid.py [--questions 32 --max_new_tokens 48]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

GRID = {
    "chain_sum t2 d1": ("chain_sum", dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1)),
    "chain_sum t2 d2": ("chain_sum", dict(min_terms=2, max_terms=2, min_digits=2, max_digits=2)),
    "chain_sum t3 d1": ("chain_sum", dict(min_terms=3, max_terms=3, min_digits=1, max_digits=1)),
    "chain_sum t2 d3": ("chain_sum", dict(min_terms=2, max_terms=2, min_digits=3, max_digits=3)),
    "basic_arithmetic + d1": (
        "basic_arithmetic",
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("+",)),
    ),
    "basic_arithmetic - d1": (
        "basic_arithmetic",
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("-",)),
    ),
    "basic_arithmetic * d1": (
        "basic_arithmetic",
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("*",)),
    ),
    "products d1": ("products", dict(min_digits=1, max_digits=1)),
    "products d2": ("products", dict(min_digits=2, max_digits=2)),
    "gcd <=20": ("gcd", dict(min_value=1, max_value=20)),
    "lcm <=10": ("lcm", dict(min_value=1, max_value=10)),
    "count_bits": ("count_bits", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32, help="questions per cell")
    parser.add_argument("--max_new_tokens", type=int, default=48)
    parser.add_argument("--work_dir", default="runs/rg_grid")
    parser.add_argument("--out", default="benchmarks/results/rg_competence_grid.json")
    opts = parser.parse_args()

    from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
    from openrlhf_weakness.assess.function import FunctionAssessor
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.hf import HFBackend
    from openrlhf_weakness.demo import rg_score
    from openrlhf_weakness.demo.data import _rows
    from openrlhf_weakness.demo.student import student_model
    from openrlhf_weakness.experiment.stats import mean_ci
    from openrlhf_weakness.stat.subskills import reasoning_gym_skills

    model = student_model(Path("runs/demo") / "models")
    backend = HFBackend(model, batch_size=16, dtype="float32", chat_template=True)
    assessor = FunctionAssessor(rg_score.__file__)
    params = SamplingParams(max_new_tokens=opts.max_new_tokens)
    cells, start = {}, time.time()
    for name, (generator, config) in GRID.items():
        rows = _rows(generator, dict(config), opts.questions, 7, set())
        scored, _ = answer_and_assess(backend, assessor, rows, params, RowKeys(), 4, desc=name)
        right = [1.0 if r["score"] == 5 else 0.0 for r in scored]
        est = mean_ci([right])
        mean, low, high = est.mean, est.ci_low, est.ci_high
        by_subskill: dict[str, list[float]] = {}
        for row, r in zip(scored, right):
            for label in reasoning_gym_skills(row["reference"])[1:]:
                by_subskill.setdefault(label, []).append(r)
        cells[name] = {
            "generator": generator,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
            "n": len(right),
            "accuracy": mean,
            "ci_low": low,
            "ci_high": high,
            "by_subskill": {k: sum(v) / len(v) for k, v in sorted(by_subskill.items()) if len(v) >= 4},
            "example": {"prompt": scored[0]["prompt"], "response": scored[0]["response"]},
        }
        print(f"{name:<24} {mean:.2f} [{low:.2f}, {high:.2f}]  e.g. {scored[0]['response'][:60]!r}", flush=True)
    out = {
        "model": "SmolLM2-135M-Instruct (float32, greedy, chat template)",
        "questions_per_cell": opts.questions,
        "max_new_tokens": opts.max_new_tokens,
        "seconds": time.time() - start,
        "cells": cells,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
