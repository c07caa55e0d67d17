"""The weakness ledger: failures appended as JSON lines by many processes at once, none lost or interleaved.

Each append takes an exclusive ``flock`` on the file and writes its lines with one ``write`` to a file opened with
``O_APPEND``; readers see whole lines only.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time


def append_failures(path: str | os.PathLike, rows: list[dict]) -> int:
    """Append rows (time and process are added); return how many were written."""
    if not rows:
        return 0
    stamp, process = time.time(), f"{socket.gethostname()}:{os.getpid()}"
    blob = "".join(
        json.dumps({**row, "time": stamp, "process": process}) + "\n" for row in rows
    )  # ASCII: always valid
    data = blob.encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return len(rows)
