"""The demo's data from reasoning-gym generators: a weak-but-learnable domain (2-term sums and differences), a
retrieval pool (the domain generators with other seeds plus other generators), an out-of-domain guard set, disjoint
seeds for train, dev and test. Rows: prompt, reference (JSON for rg_score.py), datasource."""

from __future__ import annotations

import json
from pathlib import Path

SUFFIX = "\nGive only the final answer."
DOMAIN = {
    "chain_sum": dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2),
    "basic_arithmetic": dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2, operators=("+", "-")),
}
OTHERS = {"gcd": {}, "lcm": {}, "count_bits": {}, "basic_arithmetic_mul": {}}
GUARD = {"gcd": dict(min_value=1, max_value=50)}
SEEDS = {"train": 11, "dev": 22, "test": 33, "pool": 44, "guard": 55, "pool_other": 66}


def _rows(name: str, config: dict, size: int, seed: int, exclude: set) -> list[dict]:
    """``size`` rows whose prompts are unique and not in ``exclude`` (small domains repeat questions across seeds)."""
    import reasoning_gym

    generator = "basic_arithmetic" if name == "basic_arithmetic_mul" else name
    if name == "basic_arithmetic_mul":
        config = dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2, operators=("*",))
    rows = []
    for entry in reasoning_gym.create_dataset(generator, size=size * 4, seed=seed, **config):
        if len(rows) == size:
            break
        if entry["question"] + SUFFIX in exclude:
            continue
        exclude.add(entry["question"] + SUFFIX)
        metadata = {k: v for k, v in entry["metadata"].items() if isinstance(v, (str, int, float, bool))}
        reference = json.dumps({"answer": str(entry["answer"]), "datasource": generator, "metadata": metadata})
        rows.append({"prompt": entry["question"] + SUFFIX, "reference": reference, "datasource": name})
    return rows


def build_demo_data(out_dir: str | Path, train: int, dev: int, test: int, pool: int, guard: int) -> dict[str, str]:
    """Write train/dev/test/pool/guard JSON Lines (reused when present) and return their paths."""
    from openrlhf_weakness.io import write_jsonl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = {
        "train": [(n, c, train // len(DOMAIN), SEEDS["train"]) for n, c in DOMAIN.items()],
        "dev": [(n, c, dev // len(DOMAIN), SEEDS["dev"]) for n, c in DOMAIN.items()],
        "test": [(n, c, test // len(DOMAIN), SEEDS["test"]) for n, c in DOMAIN.items()],
        "pool": [(n, c, pool // 2 // len(DOMAIN), SEEDS["pool"]) for n, c in DOMAIN.items()]
        + [(n, c, pool // 2 // len(OTHERS), SEEDS["pool_other"]) for n, c in OTHERS.items()],
        "guard": [(n, c, guard // len(GUARD), SEEDS["guard"]) for n, c in GUARD.items()],
    }
    paths, held_out, train_prompts = {}, set(), set()
    for split in ("dev", "test", "guard", "train", "pool"):  # held-out splits first: nothing else may repeat them
        exclude = set(held_out) if split != "train" else held_out | train_prompts
        rows = [row for name, config, size, seed in plan[split] for row in _rows(name, config, size, seed, exclude)]
        if split in ("dev", "test", "guard"):
            held_out |= {r["prompt"] for r in rows}
        path = out / f"{split}.jsonl"
        if not path.exists():
            write_jsonl(path, rows)
        paths[split] = str(path)
    return paths


# The STAT-Sel demo's skills: reasoning-gym generators (no teacher needed to label them)
STAT_SKILLS = {
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


def build_stat_data(out: str | Path, train: int, dev: int, test: int) -> dict[str, str]:
    """Per skill (generator): train rows with the answer as output, dev and test rows; disjoint questions. Every row
    also carries ``subskills``: its skill plus the finer labels of its expression (operator, digits, carry, ...)."""
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.stat.subskills import reasoning_gym_skills

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {s: str(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    if all(Path(p).exists() for p in paths.values()) and '"subskills"' in Path(paths["train"]).read_text()[:4000]:
        return paths
    splits: dict[str, list[dict]] = {"dev": [], "test": [], "train": []}
    seen: set = set()
    for skill, (name, config) in STAT_SKILLS.items():
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
