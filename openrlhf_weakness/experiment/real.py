"""The quality experiment's real setting: SmolLM2-135M-Instruct on reasoning-gym arithmetic where its competence is
mixed (``benchmarks/results/rg_competence_grid.json``): one-digit products (0.62) against one-digit sums and
differences (0.06-0.19), with lcm/gcd as the guard. Labels carry reasoning-gym's answer and metadata for scoring
(``demo/rg_score.py``) and a short worked solution (``5 - 9 = -4``) for training, so SFT and APT's chosen answers teach
the sum, not a bare-number format.

The splits (repaired after the audit of issue 26): dev, test, train and pool have one category mix; the test split is
drawn once with its own seed, whatever ``--compare.data_seed``, so no data seed's dev split ever holds a test
question; near-duplicates (the same numbers and operator under another template, commutative swaps) are removed
across every split by a canonical form of each expression; the guard holds 100 lcm and 100 gcd questions.
"""

from __future__ import annotations

import ast
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
GUARD = {"lcm": ("lcm", dict(min_value=1, max_value=20)), "gcd": ("gcd", dict(min_value=1, max_value=20))}
# general rows against forgetting (``--pairs.general_data``): short-answer tasks that are neither the domain's
# arithmetic nor the guard's lcm/gcd, so mixing them in trains on neither distribution
GENERAL = {
    "letter_counting": ("letter_counting", {}),
    "spell_backward": ("spell_backward", {}),
    "word_sequence_reversal": ("word_sequence_reversal", {}),
}
SPLITS = ("test", "dev", "train", "pool")  # test first: drawn with TEST_SEED, the rest with the data seed
TEST_SEED = 0
UNIVERSE_SEED = 0  # the generators' seed: every data seed draws from the same distinct questions


@dataclass
class RealSizes:
    """Questions per split, each in the category mix ``mix``; the guard's per generator."""

    mix: dict = field(default_factory=lambda: {"products": 0.1, "chain_sum": 0.2, "basic_arithmetic": 0.7})
    test: int = 200
    dev: int = 80
    train: int = 70
    pool: int = 200
    guard: int = 100  # per guard generator
    general: int = 100  # per general generator

    def per_category(self, split: str) -> dict[str, int]:
        return {name: round(getattr(self, split) * share) for name, share in self.mix.items()}


def canonical(expression: str) -> str:
    """The expression's structure with the operands of + and * in a fixed order: ``3 + 4``, ``( 4 + 3 )`` and
    ``4+3`` are one question (the near-duplicates the audit found across templates)."""

    def norm(node):
        if isinstance(node, ast.BinOp):
            left, right = norm(node.left), norm(node.right)
            op = type(node.op).__name__
            if isinstance(node.op, (ast.Add, ast.Mult)):
                left, right = sorted((left, right))
            return f"({left} {op} {right})"
        if isinstance(node, ast.UnaryOp):
            return f"({type(node.op).__name__} {norm(node.operand)})"
        if isinstance(node, ast.Constant):
            return repr(node.value)
        return ast.dump(node)

    try:
        return norm(ast.parse(expression.strip(), mode="eval").body)
    except SyntaxError:
        return " ".join(expression.split())


def question_key(entry: dict) -> str:
    expression = entry["metadata"].get("expression")
    return canonical(expression) if expression else entry["question"]


def solution(entry: dict) -> str:
    """A short worked answer that ends in the final number (reasoning-gym's metadata holds the expression)."""
    expression = entry["metadata"].get("expression")
    return f"{expression} = {entry['answer']}" if expression else f"The answer is {entry['answer']}"


def to_row(name: str, generator: str, entry: dict, worked: bool = True) -> dict:
    """A row whose label carries the answer, its metadata and the SFT target: the worked ``solution``, or with
    ``worked`` False the bare answer (as the prompt's suffix asks)."""
    metadata = {k: v for k, v in entry["metadata"].items() if isinstance(v, (str, int, float, bool))}
    label = {
        "answer": str(entry["answer"]),
        "datasource": generator,
        "metadata": metadata,
        "solution": solution(entry) if worked else str(entry["answer"]),
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


def universe() -> dict[str, list[dict]]:
    """Each category's questions, one per canonical expression across all categories (the first category keeps a
    shared one), in a fixed order."""
    taken, out = set(), {}
    for name, (generator, config) in CATEGORIES.items():
        out[name] = []
        for entry in distinct_entries(generator, dict(config), UNIVERSE_SEED, 5000):
            key = question_key(entry)
            if key not in taken:
                taken.add(key)
                out[name].append(entry)
    return out


def build_real_domain(out_dir: str | os.PathLike, sizes: RealSizes, seed: int = 0) -> dict[str, str]:
    """Write test/dev/train/pool/guard JSON Lines (one category mix; no canonical question in two splits; the test
    split the same for every ``seed``; reused when complete); return their paths."""
    from openrlhf_weakness.experiment.config import ExperimentError
    from openrlhf_weakness.io import write_jsonl

    out = Path(out_dir)
    paths = {name: str(out / f"{name}.jsonl") for name in (*SPLITS, "guard")}
    if all(Path(p).exists() for p in paths.values()):
        return paths
    splits: dict[str, list[dict]] = {name: [] for name in paths}
    for name, entries in universe().items():
        generator = CATEGORIES[name][0]
        test_n = sizes.per_category("test")[name]
        fixed = random.Random(f"test-{TEST_SEED}-{name}").sample(range(len(entries)), len(entries))
        test, rest = [entries[i] for i in fixed[:test_n]], [entries[i] for i in fixed[test_n:]]
        random.Random(f"{seed}-{name}").shuffle(rest)
        splits["test"] += [to_row(name, generator, e) for e in test]
        start = 0
        for split in SPLITS[1:]:
            n = sizes.per_category(split)[name]
            if start + n > len(rest):
                raise ExperimentError(
                    f"the real setting's {name} has {len(entries)} distinct questions: too few for {sizes}"
                )
            splits[split] += [to_row(name, generator, e) for e in rest[start : start + n]]
            start += n
    for name, (generator, config) in GUARD.items():
        splits["guard"] += [
            to_row(name, generator, e) for e in distinct_entries(generator, dict(config), TEST_SEED, sizes.guard)
        ]
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for name, rows in splits.items():
        rng.shuffle(rows)
        write_jsonl(paths[name], rows)
    return paths


def build_real_general(out_dir: str | os.PathLike, sizes: RealSizes) -> str:
    """Write ``general.jsonl`` (``sizes.general`` questions of each ``GENERAL`` task, the same for every data seed;
    reused when present) beside the splits and return its path: the rows ``--pairs.general_data`` mixes in."""
    from openrlhf_weakness.io import write_jsonl

    path = Path(out_dir) / "general.jsonl"
    if path.exists():
        return str(path)
    rows = []
    for name, (generator, config) in GENERAL.items():
        entries = distinct_entries(generator, dict(config), TEST_SEED, sizes.general)
        rows += [to_row(name, generator, e, worked=False) for e in entries]
    random.Random(TEST_SEED).shuffle(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, rows)
    return str(path)
