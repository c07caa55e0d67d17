"""Start OpenRLHF training modules in a child process: one CPU process without the deepspeed launcher, or the launcher.

The deepspeed launcher costs about 90 s on CPU; a single process only needs the torch.distributed environment.
The child runs in its own process group and gets SIGTERM when its parent dies, however the parent dies (SIGKILL
included, through Linux's parent-death signal), so killing a loop never leaves training running behind it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process_env(base: dict | None = None) -> dict:
    """Environment for a world of one process: what the deepspeed launcher would otherwise set."""
    env = dict(os.environ if base is None else base)
    env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    env["MASTER_PORT"] = str(free_port())
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def launcher_wanted(requested: bool = False, hostfile: str | None = None) -> bool:
    """The one rule for starting training with the deepspeed launcher: when asked, for a hostfile, or on a CUDA host
    where the launcher is installed; otherwise one process."""
    if requested or hostfile:
        return True
    import torch

    return torch.cuda.is_available() and shutil.which("deepspeed") is not None


def training_command(
    module: str, args: list[str], use_launcher: bool | None = None, hostfile: str | None = None
) -> list[str]:
    """The command that runs ``module`` (an OpenRLHF or openrlhf_weakness CLI) with ``args``.

    With the launcher (default when CUDA is present) it is ``deepspeed --module``; otherwise one process, with
    OpenRLHF modules wrapped by :mod:`openrlhf_weakness.cli.run_openrlhf` so the CPU patches apply.
    """
    if use_launcher is None:
        use_launcher = launcher_wanted()
    if hostfile:  # several nodes: the launcher starts a process per GPU on every host of the file
        return ["deepspeed", "--hostfile", hostfile, "--module", module, *args]
    if use_launcher:
        return ["deepspeed", "--module", module, *args]
    if module.startswith("openrlhf."):
        return [sys.executable, "-m", "openrlhf_weakness.cli.run_openrlhf", module, *args]
    return [sys.executable, "-m", module, *args]


def _die_with_parent(parent_pid: int):
    """preexec_fn: ask Linux for SIGTERM when the parent dies (a no-op elsewhere), and stop if it already has."""

    def preexec() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def run_training(
    module: str,
    args: list[str],
    log_path: str | os.PathLike,
    use_launcher: bool | None = None,
    keep_fds=(),
    hostfile: str | None = None,
) -> None:
    """Run a training module to completion, its output in ``log_path``; raise with the log's tail on failure.
    ``keep_fds`` (a run directory's lock) stay open in the child, so the lock lasts as long as the training does;
    ``hostfile``: train on every host it lists (deepspeed's multi-node launcher)."""
    cmd = training_command(module, args, use_launcher, hostfile)
    env = os.environ.copy() if cmd[0] == "deepspeed" else single_process_env()
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        child = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            pass_fds=tuple(keep_fds),
            preexec_fn=_die_with_parent(os.getpid()),
        )
        try:
            code = child.wait()
        except BaseException:  # Ctrl-C, SIGTERM turned into an exception: the training goes with us
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
            raise
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{module} exited with {code}; last lines of {log_path}:\n{tail}")
