"""Toy preference and SFT sets in OpenRLHF's JSON Lines format, for tests, the doctor and CPU recipes."""

from __future__ import annotations


def toy_rows(n: int) -> list[dict]:
    """Arithmetic questions with a right answer (chosen) and a wrong one (rejected)."""
    rows = []
    for i in range(n):
        a, b = i % 7, (i * 3) % 5
        rows.append(
            {
                "prompt": f"What is {a} plus {b}?",
                "chosen": f"The answer is {a + b}.",
                "rejected": f"The answer is {a + b + 3}.",
            }
        )
    return rows
