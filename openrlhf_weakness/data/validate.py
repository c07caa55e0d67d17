"""Check training files (APT's preference rows, STAT's SFT rows and weights) before any model is loaded, so a bad row
fails in a second, not after loading 7B. Every format OpenRLHF reads is checked; errors name the file, line or row,
and key."""

from __future__ import annotations

import math
import os

from openrlhf_weakness.io import DataError
from openrlhf_weakness.io.rows import iter_rows, row_unit

LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".arrow")


def _error(path, line: int | None, message: str, key: str | None = None) -> DataError:
    return DataError(path, line, message, key, unit=row_unit(path))


def valid_weight(value) -> bool:
    """A row weight is a finite number >= 0 (booleans and numeric strings are refused)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def local_files(dataset_flag: str | None) -> list[str]:
    """The local data files named in OpenRLHF's comma-separated ``--data.dataset`` (hub names and folders are left to
    OpenRLHF's own reader)."""
    if not dataset_flag:
        return []
    paths = [part.split("@")[0].strip() for part in dataset_flag.split(",")]
    return [p for p in paths if p.lower().endswith(LOCAL_SUFFIXES) and os.path.isfile(p)]


def check_message_field(path, line: int, key: str, value, chat: bool, chat_needs_list: bool = False) -> None:
    """A prompt/answer field as OpenRLHF's datasets read it: a non-empty string, or with ``--data.apply_chat_template``
    a non-empty list of ``{"role": str, "content": str}`` messages (only that where ``chat_needs_list``: OpenRLHF's
    RewardDataset hands the field to the chat template as it is)."""
    if chat and chat_needs_list and isinstance(value, str):
        raise _error(
            path,
            line,
            "must be a list of chat messages with --data.apply_chat_template (OpenRLHF's "
            "RewardDataset does not wrap a string), got a string",
            key,
        )
    if chat and isinstance(value, list):
        if not value:
            raise _error(path, line, "empty message list", key)
        for i, message in enumerate(value):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _error(path, line, f"message {i} must be an object with a string 'role'", key)
            if not isinstance(message.get("content"), str):
                raise _error(path, line, f"message {i} needs a string 'content'", key)
        return
    if not isinstance(value, str):
        kinds = (
            "a string or a list of chat messages"
            if chat
            else "a string (or chat messages with --data.apply_chat_template)"
        )
        raise _error(path, line, f"must be {kinds}, got {type(value).__name__}", key)
    if not value.strip():
        raise _error(path, line, "empty string", key)


def _same_kind(path, line: int, first: tuple[str, object], second: tuple[str, object]) -> None:
    """OpenRLHF concatenates these two fields (``prompt + chosen``): both strings or both message lists."""
    if isinstance(first[1], list) != isinstance(second[1], list):
        raise _error(
            path,
            line,
            f"is a {type(second[1]).__name__} but '{first[0]}' is a {type(first[1]).__name__}: use strings "
            "for both or chat message lists for both",
            second[0],
        )


def validate_pairs_file(
    path: str,
    chosen_key: str = "chosen",
    prompt_key: str | None = None,
    weight_key: str | None = None,
    rejected_key: str = "rejected",
    chat: bool = False,
) -> dict:
    """Check every row the way OpenRLHF's RewardDataset will read it (types, empty fields, chat lists, duplicate
    keys, weights); raise :class:`DataError` naming file, line and key for the first bad row. A missing or empty
    rejected answer is an SFT-only row."""
    counts = {"rows": 0, "pairs": 0, "sft_only": 0}
    for lineno, row in iter_rows(path):
        for key in (k for k in (prompt_key, chosen_key) if k):
            if key not in row or row[key] is None:
                raise _error(path, lineno, "missing (every row needs it)", key)
            check_message_field(path, lineno, key, row[key], chat, chat_needs_list=True)
        rejected = row.get(rejected_key)
        if rejected is None or rejected == "" or rejected == []:
            counts["sft_only"] += 1
        else:
            check_message_field(path, lineno, rejected_key, rejected, chat, chat_needs_list=True)
            counts["pairs"] += 1
        if weight_key:
            if weight_key not in row:
                raise _error(path, lineno, "missing (--apt.weight_key is set)", weight_key)
            if not valid_weight(row[weight_key]):
                raise _error(path, lineno, f"weight must be a number >= 0, got {row[weight_key]!r}", weight_key)
        counts["rows"] += 1
    if counts["rows"] == 0:
        raise _error(path, None, "the file holds no rows")
    return counts


def validate_sft_file(
    path: str, input_key: str = "input", output_key: str | None = "output", chat: bool = False
) -> int:
    """Check every row the way OpenRLHF's SFTDataset will read it; return the row count."""
    rows = 0
    for lineno, row in iter_rows(path):
        for key in (k for k in (input_key, output_key) if k):
            if key not in row or row[key] is None:
                raise _error(path, lineno, "missing (every row needs it)", key)
            check_message_field(path, lineno, key, row[key], chat)
        if output_key:
            _same_kind(path, lineno, (input_key, row[input_key]), (output_key, row[output_key]))
        rows += 1
    if rows == 0:
        raise _error(path, None, "the file holds no rows")
    return rows


def validate_weights(path: str, key: str) -> int:
    """STAT-Sel's per-row weights: each a number >= 0, and not all 0 (nothing would ever be drawn); returns how many
    rows can be drawn."""
    drawable = 0
    for line, row in iter_rows(path):
        value = row.get(key)
        if not valid_weight(value):
            raise _error(path, line, f"must be a number >= 0, got {value!r}", key)
        drawable += value > 0
    if drawable == 0:
        raise _error(path, None, f"every '{key}' is 0: nothing would ever be drawn")
    return drawable
