"""Code assessor: the response's code runs in an operating-system sandbox; the verdict is reached outside it.

When the reference tests are input/output pairs (:mod:`io_tests`: ``assert f(x) == y``, tolerances, HumanEval's
``check``), the sandbox receives only the program and the inputs, and returns the outputs as plain data
(:mod:`plain_data`); the scorer, which never runs candidate code, evaluates the tests' own assertions over them. A
program can only return values: it cannot see the expected ones, patch the comparison or forge a proof.

Other tests run inside the sandbox with a one-time token written after they return (the ``tests`` mode of
:mod:`sandbox_child`). The program shares that interpreter, so a determined one can forge the token: such rewards
are marked "weakly verified", and ``weak_tests`` (refuse by default) decides whether they are given at all.

Containment is :mod:`sandbox_tool` (bubblewrap: PID, mount and network namespaces, a bounded tmpfs) plus rlimits and
an audit hook inside; output is read up to a cap and the deadline covers everything, the sandbox's start included.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.assess.base import Assessment, Item, PerItemAssessor
from openrlhf_weakness.errors import SettingsError

log = logging.getLogger(__name__)
CHILD = str(Path(__file__).with_name("sandbox_child.py"))
FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.S)
OUTPUT_CAP = 64 * 1024  # bytes of a program's output kept; the rest is read and dropped until the deadline
RESULTS_CAP = 16 << 20  # bytes of encoded outputs accepted from one program
WEAK = "weakly verified"  # the feedback prefix of a reward from tests that ran inside the sandbox
REAP_GRACE = 2.0  # seconds to see every process of a killed sandbox gone (its output pipes closed)


@dataclass
class SandboxResult:
    passed: bool
    status: str  # passed, failed, timeout, early_exit
    output: str
    truncated: bool = False
    outputs: list | None = None  # calls mode: the decoded outputs of every call, when all returned


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


def _read_bounded(fds: list[int], deadline: float, caps: list[int]) -> tuple[list[bytes], list[bool], bool]:
    """Read every descriptor of ``fds`` until EOF on all or ``deadline``: (the first ``caps[i]`` bytes of each,
    truncated flags, timed out). Bytes past a cap are read and dropped, so a writer never blocks on a full pipe."""
    kept, truncated = [bytearray() for _ in fds], [False] * len(fds)
    open_fds = dict(zip(fds, range(len(fds))))
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            return [bytes(k) for k in kept], truncated, True
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            i = open_fds[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                del open_fds[fd]
                continue
            room = caps[i] - len(kept[i])
            truncated[i] = truncated[i] or len(chunk) > room
            kept[i] += chunk[: max(room, 0)]
    return [bytes(k) for k in kept], truncated, False


@functools.lru_cache(maxsize=None)
def _sandboxed(mode: str) -> bool:
    from openrlhf_weakness.assess.sandbox_tool import require_sandbox

    return require_sandbox(mode)


@dataclass
class _Run:
    returncode: int
    text: str
    truncated: bool
    timed_out: bool
    results: bytes
    results_truncated: bool


def _run_child(payload: dict, timeout: float, memory_mb: int, output_cap: int, results_cap: int, sandbox: str) -> _Run:
    """One run of the harness with ``payload`` on its standard input, under bwrap unless ``sandbox`` is none. The
    deadline covers start-up, writing and reading; at the deadline the sandbox is killed with all it started."""
    deadline = time.monotonic() + timeout
    results_read, results_write = os.pipe()
    cpu = str(int(timeout) + 1)
    if _sandboxed(sandbox):
        from openrlhf_weakness.assess.sandbox_tool import INSIDE, bwrap_command, python_inside

        cmd = bwrap_command(
            [python_inside(), "-I", "-S", f"{INSIDE}/sandbox_child.py", str(memory_mb), cpu, str(results_write)]
        )
        cwd, env = "/", {"PATH": "/usr/bin:/bin"}
    else:
        cmd = [*network_namespace_prefix(), sys.executable, "-I", CHILD, str(memory_mb), cpu, str(results_write)]
        cwd, env = None, None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="orw-sandbox-") as workdir:
        if env is None:
            cwd = workdir
            env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                pass_fds=(results_write,),
            )
        finally:
            os.close(results_write)
        try:
            try:
                proc.stdin.write(json.dumps(payload).encode("utf-8"))
                proc.stdin.close()
            except BrokenPipeError:  # the child died at start (for example its memory limit); its output says why
                pass
            fds = [proc.stdout.fileno(), results_read]
            (out, results), (truncated, results_truncated), timed_out = _read_bounded(
                fds, deadline, [output_cap, results_cap]
            )
            if not timed_out:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap (and so the sandbox's init and all in it), or the group
            except ProcessLookupError:
                pass
            proc.wait()
            _read_bounded(fds, time.monotonic() + REAP_GRACE, [0, 0])  # EOF on both: no process of it holds them
            proc.stdout.close()
            os.close(results_read)
    return _Run(
        proc.returncode, out.decode("utf-8", errors="replace"), truncated, timed_out, results, results_truncated
    )


def _ending(run: _Run, output_cap: int) -> str:
    text = run.text
    if run.truncated:
        text += f"\n(output truncated: more than {output_cap} bytes)"
    return text


def run_sandboxed(
    program: str,
    tests: str = "",
    timeout: float = 10.0,
    memory_mb: int = 1024,
    output_cap: int = OUTPUT_CAP,
    sandbox: str = "bwrap",
) -> SandboxResult:
    """Run ``program`` then ``tests`` in the sandbox (the weakly verified mode); passed only with the harness's
    one-time token, written after the tests return. Output past ``output_cap`` bytes is dropped and noted."""
    token = secrets.token_hex(16)
    payload = {
        "mode": "tests",
        "token": token,
        "program": program,
        "tests": tests,
        "eq_name": f"_orw_eq_{secrets.token_hex(8)}",
    }
    run = _run_child(payload, timeout, memory_mb, output_cap, 256, sandbox)
    text = _ending(run, output_cap)
    if run.timed_out:
        return SandboxResult(False, "timeout", text[-2000:], run.truncated)
    if run.returncode == 0 and run.results == token.encode():
        return SandboxResult(True, "passed", text[-2000:], run.truncated)
    if run.returncode in (0, 3):
        text += "\nsandbox: the program ended the process before its tests finished (early exit is a failure)"
        return SandboxResult(False, "early_exit", text[-2000:], run.truncated)
    if run.returncode < 0:
        text += f"\n(killed by signal {-run.returncode})"
    return SandboxResult(False, "failed", text[-2000:], run.truncated)


def run_calls(
    program: str,
    calls: list,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    output_cap: int = OUTPUT_CAP,
    sandbox: str = "bwrap",
) -> SandboxResult:
    """Run ``program`` in the sandbox and call each of ``calls`` (:class:`io_tests.Call`); ``outputs`` holds the
    decoded return values when every call returned plain data. ``passed`` here only means "all calls returned"."""
    from openrlhf_weakness.assess import plain_data

    encoded = [[c.name, plain_data.encode(list(c.args)), plain_data.encode(dict(c.kwargs))] for c in calls]
    run = _run_child(
        {"mode": "calls", "program": program, "calls": encoded}, timeout, memory_mb, output_cap, RESULTS_CAP, sandbox
    )
    text = _ending(run, output_cap)
    if run.timed_out:
        return SandboxResult(False, "timeout", text[-2000:], run.truncated)
    if run.results_truncated:
        return SandboxResult(False, "failed", f"outputs larger than {RESULTS_CAP} bytes", run.truncated)
    outputs = []
    for line in run.results.splitlines():
        try:
            kind, value = json.loads(line)
        except (ValueError, RecursionError, TypeError):
            return SandboxResult(False, "failed", text[-1800:] + "\nsandbox: malformed output line", run.truncated)
        if kind == "error":
            return SandboxResult(False, "failed", str(value)[:2000], run.truncated)
        try:
            outputs.append(plain_data.decode(value) if kind == "ok" else plain_data.decode(None))
        except plain_data.PlainDataError as err:
            return SandboxResult(False, "failed", f"sandbox: output {len(outputs)}: {err}", run.truncated)
    if len(outputs) != len(calls):
        why = f"sandbox: {len(outputs)} of {len(calls)} calls returned (the process ended early)"
        if run.returncode < 0:
            why += f"; killed by signal {-run.returncode}"
        return SandboxResult(False, "early_exit", (text[-1800:] + "\n" + why).strip(), run.truncated)
    return SandboxResult(True, "returned", text[-2000:], run.truncated, outputs)


class CodeTestAssessor(PerItemAssessor):
    """Pass is 5, fail or timeout is 1. Tests in input/output form are checked outside the sandbox; others run inside
    it, marked weakly verified, and only when ``weak_tests`` is ``accept`` (else the item is left unscored)."""

    def __init__(
        self,
        timeout: float = 10.0,
        memory_mb: int = 1024,
        num_workers: int = 2,
        sandbox: str = "bwrap",
        weak_tests: str = "refuse",
    ):
        if weak_tests not in ("accept", "refuse"):
            raise SettingsError(f"weak_tests must be accept or refuse, got {weak_tests!r}")
        self.timeout, self.memory_mb, self.num_workers = timeout, memory_mb, num_workers
        self.sandbox, self.weak_tests = sandbox, weak_tests
        _sandboxed(sandbox)  # no sandbox and not allowed to go without: fail here, once

    def assess(self, item: Item) -> Assessment:
        from openrlhf_weakness.assess.io_tests import NotIOForm, parse_io_tests

        tests = "\n".join(item.reference) if isinstance(item.reference, list) else str(item.reference)
        program = extract_code(str(item.response))
        try:
            io = parse_io_tests(tests)
        except NotIOForm as why:
            return self._weak(program, tests, str(why))
        result = run_calls(program, io.calls, self.timeout, self.memory_mb, sandbox=self.sandbox)
        if result.outputs is None:
            last = result.output.strip().splitlines()[-1:] or [""]
            return Assessment(1, f"{result.status}: {last[0][:200]}")
        passed, reason = io.verdict(result.outputs)
        return Assessment(5 if passed else 1, f"{'passed' if passed else 'failed'}: {reason}")

    def _weak(self, program: str, tests: str, why: str) -> Assessment:
        if self.weak_tests != "accept":
            return Assessment(
                None,
                f"tests refused: not input/output pairs ({why[:120]}); weak_tests=accept runs "
                "them inside the sandbox, weakly verified",
            )
        result = run_sandboxed(program, tests, self.timeout, self.memory_mb, sandbox=self.sandbox)
        last = result.output.strip().splitlines()[-1:] or [""]
        return Assessment(5 if result.passed else 1, f"{WEAK}, {result.status}: {last[0][:200]}")
