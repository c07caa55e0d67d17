"""The code assessor's sandbox overhead: sandboxed runs per second against an unsandboxed in-process ``exec`` and
against a plain ``python -c`` subprocess, on the same solution-plus-tests programs.

    .venv/bin/python benchmarks/bench_code_sandbox.py [--programs 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = """
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
assert fib(10) == 55
assert sum(fib(i) for i in range({k})) >= 0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/code_sandbox.json")
    opts = parser.parse_args()
    from openrlhf_weakness.assess.code_sandbox import network_namespace_prefix, run_sandboxed

    programs = [PROGRAM.format(k=20 + i % 50) for i in range(opts.programs)]
    start = time.perf_counter()
    for program in programs:
        exec(compile(program, "program.py", "exec"), {"__name__": "__main__"})
    exec_rate = len(programs) / (time.perf_counter() - start)
    start = time.perf_counter()
    for program in programs:
        subprocess.run([sys.executable, "-c", program], check=True)
    subprocess_rate = len(programs) / (time.perf_counter() - start)
    start = time.perf_counter()
    results = [run_sandboxed(p, timeout=10) for p in programs]
    sandbox_rate = len(programs) / (time.perf_counter() - start)
    assert all(r.passed for r in results)
    result = {"programs": opts.programs, "network_namespace": bool(network_namespace_prefix()),
              "exec_runs_per_s": exec_rate, "subprocess_runs_per_s": subprocess_rate,
              "sandbox_runs_per_s": sandbox_rate, "overhead_vs_exec": exec_rate / sandbox_rate,
              "overhead_vs_subprocess": subprocess_rate / sandbox_rate}  # fmt: skip
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{opts.programs} programs (one worker); network namespace: {result['network_namespace']}")
    print(f"  in-process exec (no isolation): {exec_rate:.0f} runs/s")
    print(f"  plain python subprocess:        {subprocess_rate:.1f} runs/s")
    print(f"  sandbox:                        {sandbox_rate:.1f} runs/s")
    print(
        f"  sandbox overhead: {result['overhead_vs_exec']:.0f}x exec, {result['overhead_vs_subprocess']:.2f}x subprocess"
    )


if __name__ == "__main__":
    main()
