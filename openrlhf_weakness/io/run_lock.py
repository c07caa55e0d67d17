"""One process per run directory: an advisory lock held for the life of the process (and of its training child).

Two loops writing one run directory would train into the same ``model.tmp`` at once; the second one is stopped
at the start with the PID of the holder instead.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = ".lock"


class RunDirBusy(RuntimeError):
    """Another live process holds the run directory."""


def lock_run_dir(root: str | os.PathLike) -> int:
    """Take the run directory's lock; return its file descriptor (keep it open: closing it releases the lock)."""
    path = Path(root) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunDirBusy(
            f"{root} is in use by another process (PID {holder}); wait for it to finish or stop it, then rerun"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
