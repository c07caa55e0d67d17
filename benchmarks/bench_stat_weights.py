"""Skill map, Missing-Skill-Profile and STAT-Sel weights for 100,000 and 1,000,000 examples with up to 5 skills each
(from 120 skills): time and peak memory of each size and the ratio between them (linear would be 10x).

    .venv/bin/python benchmarks/bench_stat_weights.py
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import numpy as np


def run(n: int, rng) -> dict:
    from openrlhf_weakness.stat.profile import SkillMap, missing_skill_profile, sel_weights
    from openrlhf_weakness.stat.sampler import SkillWeightedSampler

    names = [f"skill {i}" for i in range(120)]
    counts = rng.integers(0, 6, n)
    flat = rng.integers(0, 120, int(counts.sum()))
    labels, start = [], 0
    for c in counts:  # label lists as a labelling stage produces them (strings, possibly repeated)
        labels.append([names[j] for j in dict.fromkeys(flat[start : start + c].tolist())])
        start += c
    missing = [[names[j] for j in rng.choice(120, 3, replace=False)] for _ in range(2000)]

    class Data:
        def __len__(self):
            return n

    tracemalloc.start()
    t0 = time.perf_counter()
    skill_map = SkillMap.from_labels(labels, names)
    t1 = time.perf_counter()
    profile = missing_skill_profile(missing)
    weights, _ = sel_weights(skill_map, profile, k=5)
    t2 = time.perf_counter()
    sampler = SkillWeightedSampler(Data(), weights, total=n)
    first = next(iter(sampler))
    t3 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0 <= first < n and weights.shape == (n,)
    return {
        "examples": n,
        "skill_map_s": t1 - t0,
        "profile_and_weights_s": t2 - t1,
        "sampler_first_draw_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_mb": peak / 2**20,
    }


def main() -> None:
    rng = np.random.default_rng(0)
    rows = [run(n, rng) for n in (100_000, 1_000_000)]
    ratio = rows[1]["total_s"] / rows[0]["total_s"]
    out = {"sizes": rows, "time_ratio_1m_over_100k": ratio}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/stat_weights.json").write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['examples']:>9,} examples: skill map {r['skill_map_s']:.2f} s, profile + weights "
            f"{r['profile_and_weights_s']:.3f} s, sampler draw {r['sampler_first_draw_s']:.3f} s; total "
            f"{r['total_s']:.2f} s, peak {r['peak_mb']:.0f} MB"
        )
    print(f"time ratio 1,000,000 / 100,000: {ratio:.1f} (linear: 10)")


if __name__ == "__main__":
    main()
