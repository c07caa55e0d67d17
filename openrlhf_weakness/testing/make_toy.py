"""Write the tiny offline Llama and a toy APT preference set, for the CPU recipes.

Usage: ``python -m openrlhf_weakness.testing.make_toy DIR`` -> DIR/tiny-llama, DIR/apt_pairs.jsonl
"""

from __future__ import annotations

import sys
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        raise SystemExit(__doc__.strip())
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    print(build_tiny_model(out / "tiny-llama"))
    write_jsonl(out / "apt_pairs.jsonl", toy_apt_rows(64))
    print(out / "apt_pairs.jsonl")


if __name__ == "__main__":
    main()
