"""serve_assessor under a bounded load from a second process on 127.0.0.1: requests per second and p99 latency at
1, 8 and 32 concurrent clients (math assessor, one sample per request, as OpenRLHF sends them).

    .venv/bin/python benchmarks/bench_serve_assessor.py [--requests 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str, clients: int, requests: int) -> tuple[float, list[float]]:
    import aiohttp

    latencies: list[float] = []
    counter = iter(range(requests))

    async def client(session):
        for i in counter:
            a, b = i % 50, i % 7
            body = {
                "query": [f"Q: {a}+{b}? A: \\boxed{{{a + b}}}"],
                "prompts": [f"Q: {a}+{b}? A: "],
                "labels": [str(a + b)],
            }
            start = time.perf_counter()
            async with session.post(url, json=body) as resp:
                assert resp.status == 200 and (await resp.json())["rewards"] == [1.0]
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--out", default="benchmarks/results/serve_assessor.json")
    opts = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openrlhf_weakness.cli.serve_assessor",
            "--serve.port",
            str(port),
            "--serve.max_concurrent",
            "32",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        server.stdout.readline()
        url = f"http://127.0.0.1:{port}/get_reward"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(load(url, 4, 40))  # warm-up
        rows = []
        for clients in (1, 8, 32):
            seconds, lat = asyncio.run(load(url, clients, opts.requests))
            lat.sort()
            rows.append(
                {
                    "clients": clients,
                    "requests": opts.requests,
                    "rps": opts.requests / seconds,
                    "p50_ms": lat[len(lat) // 2] * 1000,
                    "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
                }
            )
    finally:
        server.kill()
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        print(f"  {r['clients']:>2} clients: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
