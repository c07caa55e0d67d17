"""Code assessor: the response's code plus the reference unit tests run in a separate, limited process.

Containment: a throwaway directory, a new session killed as a group on timeout, address-space / CPU / file-size
limits, an audit hook refusing processes, sockets, native loading and writes outside the directory, and (where the
kernel allows unprivileged namespaces) a network namespace with no interfaces. This stops accidents and the usual
escapes of model-written code; it is not a boundary against a determined attacker: use containers for that.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.assess.base import Assessment, Item, PerItemAssessor

CHILD = str(Path(__file__).with_name("sandbox_child.py"))
FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.S)


@dataclass
class SandboxResult:
    passed: bool
    status: str  # passed, failed, timeout
    output: str


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


def run_sandboxed(program: str, timeout: float = 10.0, memory_mb: int = 1024) -> SandboxResult:
    with tempfile.TemporaryDirectory(prefix="orw-sandbox-") as workdir:
        Path(workdir, "program.py").write_text(program, encoding="utf-8")
        cmd = [*network_namespace_prefix(), sys.executable, "-I", CHILD, str(memory_mb), str(int(timeout) + 1)]
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=timeout)
            status = "passed" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = proc.communicate()
            status = "timeout"
        text = out.decode("utf-8", errors="replace")
        if status == "failed" and proc.returncode < 0:
            text += f"\n(killed by signal {-proc.returncode})"
        return SandboxResult(status == "passed", status, text[-2000:])


class CodeTestAssessor(PerItemAssessor):
    """Pass is 5, fail or timeout is 1; the feedback carries the end of the test output."""

    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024, num_workers: int = 2):
        self.timeout, self.memory_mb, self.num_workers = timeout, memory_mb, num_workers

    def assess(self, item: Item) -> Assessment:
        tests = "\n".join(item.reference) if isinstance(item.reference, list) else str(item.reference)
        program = extract_code(str(item.response)) + "\n\n" + tests + "\n"
        result = run_sandboxed(program, self.timeout, self.memory_mb)
        last = result.output.strip().splitlines()[-1:] or [""]
        return Assessment(5 if result.passed else 1, f"{result.status}: {last[0][:200]}")
