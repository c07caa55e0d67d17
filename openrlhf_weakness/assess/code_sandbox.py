"""Code assessor: the response's code plus the reference unit tests run in a separate, limited process.

A pass needs positive proof that the tests ran to the end: a one-time token that the harness in the child writes
after the tests return, which a program ending the process early cannot produce, whatever its exit status. Output is
read up to a cap and the deadline covers the time spent writing it.

Containment: a throwaway directory, a new session killed as a group on timeout, address-space / CPU / file-size
limits, an audit hook refusing processes, sockets, native loading and writes outside the directory, and (where the
kernel allows unprivileged namespaces) a network namespace with no interfaces. This stops accidents and the usual
escapes of model-written code; it is not a boundary against a determined attacker: use containers for that.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.assess.base import Assessment, Item, PerItemAssessor

CHILD = str(Path(__file__).with_name("sandbox_child.py"))
FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.S)


OUTPUT_CAP = 64 * 1024  # bytes of a program's output kept; the rest is read and dropped until the deadline


@dataclass
class SandboxResult:
    passed: bool
    status: str  # passed, failed, timeout, early_exit
    output: str
    truncated: bool = False


@functools.lru_cache(maxsize=1)
def network_namespace_prefix() -> tuple[str, ...]:
    """``unshare -rn`` when this kernel lets us make an empty network namespace, else nothing (audit hook only)."""
    try:
        ok = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return ("unshare", "-rn") if ok else ()


def extract_code(response: str) -> str:
    """The first fenced Python block of a response, or the whole response when it has none."""
    match = FENCE.search(response)
    return match.group(1) if match else response


def _read_bounded(stream, deadline: float, cap: int) -> tuple[bytes, bool, bool]:
    """Read ``stream`` until EOF or ``deadline``: (the first ``cap`` bytes, truncated, timed out)."""
    kept, truncated = bytearray(), False
    fd = stream.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(kept), truncated, True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return bytes(kept), truncated, False
        room = cap - len(kept)
        if len(chunk) > room:
            truncated = True
        kept += chunk[: max(room, 0)]


def run_sandboxed(
    program: str, tests: str = "", timeout: float = 10.0, memory_mb: int = 1024, output_cap: int = OUTPUT_CAP
) -> SandboxResult:
    """Run ``program`` then ``tests`` in a fresh limited process; passed only with the harness's proof that the tests
    returned. The deadline covers everything, time spent writing output included; output past ``output_cap`` bytes
    is dropped and the truncation noted."""
    token = secrets.token_hex(16)
    payload = json.dumps(
        {"token": token, "program": program, "tests": tests, "eq_name": f"_orw_eq_{secrets.token_hex(8)}"}
    )
    deadline = time.monotonic() + timeout
    proof_read, proof_write = os.pipe()
    with tempfile.TemporaryDirectory(prefix="orw-sandbox-") as workdir:
        cmd = [*network_namespace_prefix(), sys.executable, "-I", CHILD, str(memory_mb), str(int(timeout) + 1),
               str(proof_write)]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.Popen(
                cmd, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, pass_fds=(proof_write,),
            )  # fmt: skip
        finally:
            os.close(proof_write)
        try:
            try:
                proc.stdin.write(payload.encode("utf-8"))
                proc.stdin.close()
            except BrokenPipeError:  # the child died at start (for example its memory limit); its output says why
                pass
            out, truncated, timed_out = _read_bounded(proc.stdout, deadline, output_cap)
            if not timed_out:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group, whatever it left running
            except ProcessLookupError:
                pass
            proc.wait()
            proc.stdout.close()
            os.set_blocking(proof_read, False)
            try:
                proof = os.read(proof_read, 256) if not timed_out else b""
            except BlockingIOError:  # nothing written and a writer still open somewhere: no proof
                proof = b""
            os.close(proof_read)
    text = out.decode("utf-8", errors="replace")
    if truncated:
        text += f"\n(output truncated: more than {output_cap} bytes)"
    if timed_out:
        return SandboxResult(False, "timeout", text[-2000:], truncated)
    if proc.returncode == 0 and proof == token.encode():
        return SandboxResult(True, "passed", text[-2000:], truncated)
    if proc.returncode in (0, 3):
        text += "\nsandbox: the program ended the process before its tests finished (early exit is a failure)"
        return SandboxResult(False, "early_exit", text[-2000:], truncated)
    if proc.returncode < 0:
        text += f"\n(killed by signal {-proc.returncode})"
    return SandboxResult(False, "failed", text[-2000:], truncated)


class CodeTestAssessor(PerItemAssessor):
    """Pass is 5, fail or timeout is 1; the feedback carries the end of the test output."""

    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024, num_workers: int = 2):
        self.timeout, self.memory_mb, self.num_workers = timeout, memory_mb, num_workers

    def assess(self, item: Item) -> Assessment:
        tests = "\n".join(item.reference) if isinstance(item.reference, list) else str(item.reference)
        result = run_sandboxed(extract_code(str(item.response)), tests, self.timeout, self.memory_mb)
        last = result.output.strip().splitlines()[-1:] or [""]
        return Assessment(5 if result.passed else 1, f"{result.status}: {last[0][:200]}")
