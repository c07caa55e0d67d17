"""openai backend throughput against its bound: a loopback OpenAI-compatible server answering each request after a
fixed latency; bound = requests in flight / latency.

    .venv/bin/python benchmarks/bench_openai_backend.py [--requests 1000 --max_in_flight 32 --latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max_in_flight", type=int, default=16, help="default: the backend's own default")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--out", default="benchmarks/results/openai_backend.json")
    opts = parser.parse_args()

    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.openai_compat import OpenAIBackend

    prompts = [f"question {i}" for i in range(opts.requests)]
    # the server runs in its own process, as a real one would, so it does not share this interpreter's lock
    server = subprocess.Popen(
        [sys.executable, "-m", "openrlhf_weakness.testing.scripted_openai_server", "--latency", str(opts.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])
        backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "bench", max_in_flight=opts.max_in_flight, timeout=30)
        backend.generate(prompts[:64], SamplingParams(max_new_tokens=16), lambda i, a: None)  # warm-up
        got = []
        start = time.perf_counter()
        backend.generate(prompts, SamplingParams(max_new_tokens=16), lambda i, a: got.append(i))
        elapsed = time.perf_counter() - start
    finally:
        server.kill()
    assert len(got) == opts.requests
    achieved = opts.requests / elapsed
    bound = opts.max_in_flight / opts.latency
    result = {
        "requests": opts.requests,
        "max_in_flight": opts.max_in_flight,
        "latency_s": opts.latency,
        "seconds": elapsed,
        "achieved_rps": achieved,
        "bound_rps": bound,
        "ratio": achieved / bound,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{opts.requests} requests, {opts.max_in_flight} in flight, {opts.latency * 1000:.0f} ms server latency")
    print(f"  achieved {achieved:.0f} req/s; bound {bound:.0f} req/s; ratio {achieved / bound:.3f}")


if __name__ == "__main__":
    main()
