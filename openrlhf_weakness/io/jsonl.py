"""JSON Lines that fail loudly and precisely: every error names the file, the line and, where known, the key."""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (strict JSON has no NaN or Infinity)")


def _unique_keys(pairs: list) -> dict:
    row = {}
    for key, value in pairs:
        if key in row:
            raise _DuplicateKey(key)
        row[key] = value
    return row


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class DataError(ValueError):
    """Bad input data; the message names the file, the line (``unit`` "row" for sources read through ``datasets``,
    numbered from 1) and the key."""

    def __init__(
        self, path: str | os.PathLike, line: int | None, message: str, key: str | None = None, unit: str = "line"
    ):
        where = f"{path}" + (f", {unit} {line}" if line is not None else "") + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.key, self.unit = str(path), line, key, unit


def iter_jsonl(path: str | os.PathLike, start: int = 1) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every non-blank line from line ``start``; a line that is not a strict
    JSON object (not UTF-8, NaN/Infinity, a key given twice, nested too deeply) raises :class:`DataError` naming it."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno < start:
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    path, lineno, f"not UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as err:
                raise DataError(path, lineno, f"not valid JSON ({err.msg} at column {err.colno})") from None
            except _DuplicateKey as err:
                raise DataError(
                    path, lineno, "appears twice in one object (one value would be lost)", err.key
                ) from None
            except ValueError as err:
                raise DataError(path, lineno, str(err)) from None
            except RecursionError:
                raise DataError(path, lineno, "JSON nested too deeply") from None
            if not isinstance(row, dict):
                raise DataError(path, lineno, f"expected a JSON object, found {type(row).__name__}")
            yield lineno, row


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write rows atomically (temporary file in the same folder, then rename); return how many were written.
    Strict JSON: a NaN or Infinity raises ValueError and nothing is written."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # disk full, interrupted: no partial file is left, and none looks finished
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return count


def write_json(path: str | os.PathLike, data) -> None:
    """Write one JSON document atomically; a failure (disk full) leaves no partial file behind."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def append_jsonl(path: str | os.PathLike, rows: list[dict]) -> int:
    """Append rows as JSON lines under an exclusive ``flock``, with one ``write`` on an ``O_APPEND`` file, so many
    processes can append at once and readers see whole lines only; return how many were written."""
    import fcntl

    if not rows:
        return 0
    data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")  # ASCII: always valid
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return len(rows)
