"""The weakness ledger: the failures GRPO's reward hook recorded, read back as the next APT or STAT round's cases."""

from __future__ import annotations

LEDGER_KEYS = ["prompt", "response", "label"]


def ledger_failures(path: str) -> list[dict]:
    """One dict per failure: ``question`` (as written when the label carried it, else the templated prompt), the raw
    ``label``, the failed ``response``, its ``score`` and ``datasource``. Bad rows raise ``DataError``."""
    from openrlhf_weakness.data.inputs import read_input

    return [
        {
            "question": row.get("input") or row["prompt"],
            "label": row["label"],
            "response": row["response"],
            "score": row.get("score"),
            "datasource": row.get("datasource"),
        }
        for row in read_input(path, LEDGER_KEYS, allow_empty=True)
    ]
