"""The code assessor's sandbox: every case is contained and scored, and nothing outside it is touched."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from openrlhf_weakness.assess.base import Item
from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor, extract_code, run_sandboxed

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"


def _score(response: str, tests: str = TESTS, **kw):
    return CodeTestAssessor(**{"timeout": 3.0, **kw}).assess_batch([Item("write add", response, tests)])[0]


def test_passing_and_failing_code():
    good = _score("```python\ndef add(a, b):\n    return a + b\n```\nThis adds.")
    bad = _score("def add(a, b):\n    return a - b")
    assert good.score == 5 and good.feedback.startswith("passed")
    assert bad.score == 1 and bad.feedback == "failed: tests line 1: assertion failed (got -1)"


def test_infinite_loop_times_out_and_its_process_group_is_killed():
    start = time.time()
    result = _score("def add(a, b):\n    while True:\n        pass", timeout=1.0)
    assert result.score == 1 and result.feedback.startswith("timeout")
    assert time.time() - start < 5


def test_huge_allocation_is_refused():
    result = _score("blob = bytearray(50 * 2**30)\ndef add(a, b):\n    return a + b", memory_mb=512)
    assert result.score == 1 and "MemoryError" in result.feedback


def test_forking_and_subprocesses_are_refused():
    for code in (
        "import os\nos.fork()",
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('true')",
    ):
        out = run_sandboxed(code, timeout=3)
        assert out.status == "failed" and "sandbox:" in out.output and "is not allowed" in out.output


def test_deleting_or_writing_files_outside_the_sandbox_is_refused(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    for code in (
        f"import os\nos.remove({str(victim)!r})",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
        f"open({str(victim)!r}, 'w').write('gone')",
        f"import os\nos.rename({str(victim)!r}, 'stolen.txt')",
        "open('../escape.txt', 'w').write('x')",
    ):
        out = run_sandboxed(code, timeout=3)
        assert out.status == "failed", out.output  # the host's folder is not even visible inside
    assert victim.read_text() == "precious"
    for code in ("open('/usr/orw-escape.txt', 'w').write('x')", "import os\nos.mkdir('/etc/orw-escape')"):
        out = run_sandboxed(code, timeout=3)
        assert out.status == "failed" and "outside the sandbox" in out.output, out.output
    assert not Path("/usr/orw-escape.txt").exists() and not Path("/etc/orw-escape").exists()
    inside = run_sandboxed("open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read())", timeout=3)
    assert inside.passed and inside.output.strip() == "ok"  # its own throwaway directory is writable


def test_opening_a_socket_is_refused_and_nothing_connects():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        out = run_sandboxed(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))", timeout=3)
        assert out.status == "failed" and "sandbox: socket" in out.output
        try:
            listener.accept()
            connected = True
        except socket.timeout:
            connected = False
        assert not connected
    finally:
        listener.close()


def test_code_extraction_takes_the_first_fenced_block():
    assert extract_code("text\n```python\nx = 1\n```\nmore\n```\ny = 2\n```") == "x = 1\n"
    assert extract_code("x = 1") == "x = 1"


def test_batch_runs_in_parallel_and_keeps_order():
    items = [Item("p", f"def add(a, b):\n    return a + b + {k}", TESTS) for k in (0, 1, 0, 1)]
    scores = [r.score for r in CodeTestAssessor(timeout=3, num_workers=2).assess_batch(items)]
    assert scores == [5, 1, 5, 1]
