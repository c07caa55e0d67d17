"""A pipeline's input files, read once with the rows' file and line kept, so a later stage can name where a bad row is."""

from __future__ import annotations


class SourcedRows(list):
    """Rows read from a file, with the file and each row's line."""

    def __init__(self, rows: list[dict], path: str, lines: list[int]):
        super().__init__(rows)
        self.path, self.lines = path, lines

    def where(self, index: int) -> str:
        return f"{self.path}:{self.lines[index]}"


def where(rows: list[dict], index: int) -> str:
    """``file:line`` of a row read from a file, else ``row N``."""
    return rows.where(index) if isinstance(rows, SourcedRows) else f"row {index + 1}"


def read_input(path: str, keys: list[str], allow_empty: bool = False) -> SourcedRows:
    """Every row of ``path`` having ``keys``; a missing file, an empty one (unless ``allow_empty``) or a bad row
    raises ``DataError`` naming the file, the line and the key."""
    from openrlhf_weakness.io import DataError, load_rows

    try:
        numbered = load_rows(path, keys, allow_empty=allow_empty)[0]
    except FileNotFoundError:
        raise DataError(path, None, "no such file") from None
    return SourcedRows([row for _, row in numbered], path, [line for line, _ in numbered])
