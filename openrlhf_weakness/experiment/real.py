"""The quality experiment's real setting: SmolLM2-135M-Instruct on reasoning-gym arithmetic where its competence is
mixed (``benchmarks/results/rg_competence_grid.json``): one-digit products (0.62) against one-digit sums and
differences (0.06-0.19), with lcm/gcd as the guard. Labels carry reasoning-gym's answer and metadata for scoring
(``demo/rg_score.py``) and a short worked solution (``5 - 9 = -4``) for training, so SFT and APT's chosen answers teach
the sum, not a bare-number format.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = "\nGive only the final answer."  # as in the competence grid that chose this domain
CATEGORIES = {  # name: (reasoning-gym generator, its configuration)
    "products": ("products", dict(min_digits=1, max_digits=1)),
    "chain_sum": ("chain_sum", dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1)),
    "basic_arithmetic": (
        "basic_arithmetic",
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("+", "-")),
    ),
}
GUARD = {"lcm": ("lcm", dict(min_value=1, max_value=10)), "gcd": ("gcd", dict(min_value=1, max_value=20))}
SPLITS = ("dev", "test", "train", "pool")  # drawn in this order from each category's distinct questions


@dataclass
class RealSizes:
    """Questions per category and split; a small category (products has 100 distinct questions, chain_sum 200) gives
    what it has, in the order of SPLITS. The defaults give a test split of 500."""

    dev: dict = field(default_factory=lambda: {"products": 15, "chain_sum": 25, "basic_arithmetic": 40})
    test: dict = field(default_factory=lambda: {"products": 40, "chain_sum": 80, "basic_arithmetic": 380})
    train: dict = field(default_factory=lambda: {"products": 15, "chain_sum": 30, "basic_arithmetic": 75})
    pool: dict = field(default_factory=lambda: {"products": 30, "chain_sum": 65, "basic_arithmetic": 600})
    guard: int = 30  # per guard generator


def solution(entry: dict) -> str:
    """A short worked answer that ends in the final number (reasoning-gym's metadata holds the expression)."""
    expression = entry["metadata"].get("expression")
    return f"{expression} = {entry['answer']}" if expression else f"The answer is {entry['answer']}"


def to_row(name: str, generator: str, entry: dict) -> dict:
    metadata = {k: v for k, v in entry["metadata"].items() if isinstance(v, (str, int, float, bool))}
    label = {
        "answer": str(entry["answer"]),
        "datasource": generator,
        "metadata": metadata,
        "solution": solution(entry),
    }
    return {"prompt": entry["question"] + SUFFIX, "reference": json.dumps(label), "datasource": name}


def distinct_entries(generator: str, config: dict, seed: int, at_most: int) -> list[dict]:
    """Up to ``at_most`` entries with distinct questions, shuffled by ``seed``."""
    import reasoning_gym

    seen, out = set(), []
    for entry in reasoning_gym.create_dataset(generator, size=max(4 * at_most, 2000), seed=seed, **config):
        if entry["question"] not in seen:
            seen.add(entry["question"])
            out.append(entry)
    random.Random(seed).shuffle(out)
    return out[:at_most]


def build_real_domain(out_dir: str | os.PathLike, sizes: RealSizes, seed: int = 0) -> dict[str, str]:
    """Write train/pool/dev/test/guard JSON Lines (no question in two splits; reused when complete); return paths."""
    from openrlhf_weakness.io import write_jsonl

    out = Path(out_dir)
    paths = {name: str(out / f"{name}.jsonl") for name in (*SPLITS, "guard")}
    if all(Path(p).exists() for p in paths.values()):
        return paths
    splits: dict[str, list[dict]] = {name: [] for name in paths}
    for name, (generator, config) in CATEGORIES.items():
        wanted = [getattr(sizes, split)[name] for split in SPLITS]
        entries = distinct_entries(generator, dict(config), seed, sum(wanted))
        start = 0
        for split, n in zip(SPLITS, wanted):
            splits[split] += [to_row(name, generator, e) for e in entries[start : start + n]]
            start += n
    for name, (generator, config) in GUARD.items():
        splits["guard"] += [
            to_row(name, generator, e) for e in distinct_entries(generator, dict(config), seed, sizes.guard)
        ]
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for name, rows in splits.items():
        rng.shuffle(rows)
        write_jsonl(paths[name], rows)
    return paths
