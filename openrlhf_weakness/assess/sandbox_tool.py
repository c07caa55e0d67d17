"""The operating system's sandbox around candidate code: bubblewrap (``bwrap``, the tool Flatpak uses).

Each program runs in new PID, network, IPC and UTS namespaces (it cannot see or signal the scorer, and has no network
but its own loopback), with a read-only view of only the system and Python directories it needs and a private,
size-bounded tmpfs as its working folder. ``--die-with-parent`` ties the sandbox's init to bwrap: killing bwrap at
the deadline ends the namespace's init, and the kernel then kills every process in it, whatever session it made.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from openrlhf_weakness.errors import SettingsError

log = logging.getLogger(__name__)

INSIDE = "/orw"  # where the harness files are mounted in the sandbox
HARNESS = ("sandbox_child.py", "plain_data.py")
SCRATCH_BYTES = 64 << 20
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"


class SandboxUnavailable(RuntimeError):
    """No working OS sandbox, and running candidate code without one was not allowed."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _system_mounts() -> list[str]:
    """Read-only binds of /usr, /etc and the interpreter's prefix; /bin, /lib... as on the host (links or binds)."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for prefix in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}:
        if prefix != "/usr" and not prefix.startswith("/usr/"):
            for parent in reversed(Path(prefix).parents[:-1]):  # /root is 0700 on the host: nobody must pass it
                args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", prefix, prefix]
    return args


def python_inside() -> str:
    """The base interpreter (not a virtual environment's link, whose folder is not mounted)."""
    exe = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(exe if exe.exists() else Path(os.path.realpath(sys.executable)))


def bwrap_command(argv: list[str], scratch_bytes: int = SCRATCH_BYTES) -> list[str]:
    """``argv`` (starting with :func:`python_inside`) wrapped in bubblewrap; the harness lives at /orw."""
    here = Path(__file__).parent
    harness = [a for name in HARNESS for a in ("--ro-bind", str(here / name), f"{INSIDE}/{name}")]
    return [
        bwrap_path() or "bwrap",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        *_system_mounts(),
        *harness,
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        str(scratch_bytes),
        "--tmpfs",
        "/tmp",
        "--chdir",
        "/tmp",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "ORW_SANDBOX_DROP",
        "1" if os.getuid() == 0 else "0",
        "--",
        *argv,
    ]


@functools.lru_cache(maxsize=1)
def bwrap_status() -> tuple[bool, str]:
    """(works, detail): whether bwrap is installed and can make this sandbox here (checked once per process)."""
    path = bwrap_path()
    if path is None:
        return False, f"bwrap not found: {INSTALL_HINT}"
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        probe = subprocess.run(
            bwrap_command([python_inside(), "-I", "-S", "-c", "pass"]), capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"{path} does not run: {err}"
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"{path} ({version}) cannot make a sandbox here: {why}"
    return True, f"{version} at {path}"


def require_sandbox(mode: str) -> bool:
    """True when candidate code runs under bwrap. ``mode`` ``bwrap`` raises SandboxUnavailable when bwrap cannot
    run; ``none`` runs without it (only an audit hook guards) and logs a warning."""
    if mode == "none":
        log.warning("code sandbox switched off (sandbox=none): candidate code runs with only an audit hook around it")
        return False
    if mode != "bwrap":
        raise SettingsError(f"unknown code sandbox {mode!r}: bwrap or none")
    works, detail = bwrap_status()
    if not works:
        raise SandboxUnavailable(
            f"code assessor: no OS sandbox ({detail}); to run untrusted code without one anyway, "
            "set the code sandbox to none"
        )
    return True
