"""Write the tiny offline Llama and a toy APT preference set, for the CPU recipes.

Usage: ``python -m openrlhf_weakness.cli.make_toy DIR`` -> DIR/tiny-llama, DIR/apt_pairs.jsonl, and for the
STAT -> GRPO chain DIR/stat_train.jsonl (question, worked answer, skill), DIR/stat_dev.jsonl (question, answer, skill) and
DIR/grpo_prompts.jsonl (OpenRLHF's RL prompt rows with the skill as datasource)
"""

from __future__ import annotations

from pathlib import Path

from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.testing.toy_data import toy_rows


def toy_apt_rows(n: int) -> list[dict]:
    """Toy pairs with APT provenance: alternating bad/similar sources, and every fourth row SFT-only."""
    rows = []
    for i, row in enumerate(toy_rows(n)):
        row.update(source="bad" if i % 2 else "similar", weight=1.0 if i % 2 else 0.5)
        if i % 4 == 3:
            del row["rejected"]
        rows.append(row)
    return rows


def toy_skill_rows(n: int, seed: int) -> list[dict]:
    """One-digit sums and differences, each with its skill (add or sub), a worked answer and the answer alone."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        skill, word, value = ("add", "plus", a + b) if i % 2 == 0 else ("sub", "minus", a - b)
        rows.append(
            {
                "input": f"What is {a} {word} {b}?",
                "output": f"{a} {word} {b} is {value}. The answer is {value}.",
                "reference": str(value),
                "skill": skill,
            }
        )
    return rows


def write_toy_files(out: str | Path) -> list[Path]:
    """Write the tiny model and the toy data sets into ``out``; returns what was written, model first."""
    from openrlhf_weakness.stat.grpo_export import grpo_prompt_rows
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = Path(build_tiny_model(out / "tiny-llama"))
    write_jsonl(out / "apt_pairs.jsonl", toy_apt_rows(64))
    write_jsonl(
        out / "stat_train.jsonl", [{k: r[k] for k in ("input", "output", "skill")} for r in toy_skill_rows(64, 0)]
    )
    write_jsonl(
        out / "stat_dev.jsonl", [{k: r[k] for k in ("input", "reference", "skill")} for r in toy_skill_rows(8, 1)]
    )
    train = toy_skill_rows(64, 0)
    write_jsonl(
        out / "grpo_prompts.jsonl", grpo_prompt_rows(train, [[r["skill"]] for r in train], "input", "reference")
    )
    return [model] + [out / f"{name}.jsonl" for name in ("apt_pairs", "stat_train", "stat_dev", "grpo_prompts")]
