"""hf backend on CPU: batched generation against one prompt at a time, same prompts, same greedy outputs.

.venv/bin/python benchmarks/bench_hf_batching.py [--prompts 32 --batch_size 16 --max_new_tokens 32]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--model", default=None, help="an HF model folder (default: a tiny random Llama)")
    parser.add_argument("--out", default="benchmarks/results/hf_batching.json")
    opts = parser.parse_args()

    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.hf import HFBackend
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    model = opts.model or str(
        build_tiny_model(Path(tempfile.mkdtemp()) / "m", hidden_size=opts.hidden_size, num_layers=opts.layers)
    )
    backend = HFBackend(model, batch_size=opts.batch_size, dtype="float32", device="cpu")
    prompts = [f"Question {i}: what is {i} plus {2 * i + 1}?" for i in range(opts.prompts)]
    params = SamplingParams(max_new_tokens=opts.max_new_tokens)
    backend.generate_batch(prompts[:2], params)  # warm-up

    start = time.perf_counter()
    single = [backend.generate_batch([p], params)[0] for p in prompts]
    one_at_a_time = time.perf_counter() - start
    start = time.perf_counter()
    batched: list = [None] * len(prompts)
    backend.generate(prompts, params, lambda i, a: batched.__setitem__(i, a))
    batched_time = time.perf_counter() - start
    same = sum(a == b for a, b in zip(single, batched))
    result = {
        "model": model if opts.model else f"tiny Llama hidden {opts.hidden_size}, {opts.layers} layers",
        "prompts": opts.prompts,
        "batch_size": opts.batch_size,
        "max_new_tokens": opts.max_new_tokens,
        "one_at_a_time_prompts_per_s": opts.prompts / one_at_a_time,
        "batched_prompts_per_s": opts.prompts / batched_time,
        "speedup": one_at_a_time / batched_time,
        "identical_outputs": same,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['model']}: {opts.prompts} prompts, {opts.max_new_tokens} new tokens, batch {opts.batch_size}")
    print(f"  one at a time: {result['one_at_a_time_prompts_per_s']:.2f} prompts/s")
    print(f"  batched:       {result['batched_prompts_per_s']:.2f} prompts/s")
    print(f"  batched / one-at-a-time throughput: {result['speedup']:.2f}x ({same}/{opts.prompts} identical outputs)")


if __name__ == "__main__":
    main()
