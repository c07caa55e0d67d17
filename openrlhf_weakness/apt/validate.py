"""Check APT preference files before any model is loaded, so a bad row fails in a second, not after loading 7B."""

from __future__ import annotations

import math
import os

from openrlhf_weakness.io import DataError, iter_jsonl

LOCAL_SUFFIXES = (".jsonl", ".json")


def valid_weight(value) -> bool:
    """A row weight is a finite number >= 0 (booleans and numeric strings are refused)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def local_files(dataset_flag: str | None) -> list[str]:
    """The local JSON Lines files named in OpenRLHF's comma-separated ``--data.dataset`` (hub names are skipped)."""
    if not dataset_flag:
        return []
    paths = [part.split("@")[0].strip() for part in dataset_flag.split(",")]
    return [p for p in paths if p.lower().endswith(LOCAL_SUFFIXES) and os.path.isfile(p)]


def validate_pairs_file(
    path: str, chosen_key: str = "chosen", prompt_key: str | None = None, weight_key: str | None = None
) -> dict:
    """Raise :class:`DataError` naming file, line and key for the first bad row; return counts otherwise."""
    counts = {"rows": 0, "pairs": 0, "sft_only": 0}
    for lineno, row in iter_jsonl(path):
        for key in (k for k in (chosen_key, prompt_key) if k):
            if row.get(key) in (None, "", []):
                raise DataError(path, lineno, "missing or empty (every row needs it)", key)
        if weight_key:
            if weight_key not in row:
                raise DataError(path, lineno, "missing (--apt.weight_key is set)", weight_key)
            if not valid_weight(row[weight_key]):
                raise DataError(path, lineno, f"weight must be a number >= 0, got {row[weight_key]!r}", weight_key)
        counts["rows"] += 1
    if counts["rows"] == 0:
        raise DataError(path, None, "the file holds no rows")
    return counts
