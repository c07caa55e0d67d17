"""The weakness ledger: failures appended as JSON lines by many processes at once, none lost or interleaved."""

from __future__ import annotations

import os
import socket
import time

from openrlhf_weakness.io.jsonl import append_jsonl


def append_failures(path: str | os.PathLike, rows: list[dict]) -> int:
    """Append rows (time and process are added); return how many were written."""
    stamp, process = time.time(), f"{socket.gethostname()}:{os.getpid()}"
    return append_jsonl(path, [{**row, "time": stamp, "process": process} for row in rows])
