"""JSON Lines that fail loudly and precisely: every error names the file, the line and, where known, the key."""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator


class DataError(ValueError):
    """Bad input data; the message names the file, line and key."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str, key: str | None = None):
        where = f"{path}" + (f", line {line}" if line is not None else "") + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.key = str(path), line, key


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every non-blank line; a line that is not a JSON object raises."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, lineno, f"not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict):
                raise DataError(path, lineno, f"expected a JSON object, found {type(row).__name__}")
            yield lineno, row


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write rows atomically (temporary file in the same folder, then rename); return how many were written."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    count = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return count
