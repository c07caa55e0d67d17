"""``cli.train_apt`` in bf16 (OpenRLHF's default) against fp32 (the ``fp32_params`` CPU patch) on this CPU: same model,
pairs, steps and DeepSpeed engine, each run as the loop runs it (one process, model load and save included).

    .venv/bin/python benchmarks/bench_param_dtype.py [--hidden_size 256 --layers 4 --rows 64]

On a CPU without native bf16 (AVX2), bf16 matmuls are emulated; the ratio says how much of a training that costs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=str, default="benchmarks/results/param_dtype.json")
    opts = parser.parse_args()

    from openrlhf_weakness.io import write_json, write_jsonl
    from openrlhf_weakness.launch import run_training
    from openrlhf_weakness.testing.make_toy import toy_apt_rows
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench-dtype-"))
    model = build_tiny_model(work / "model", hidden_size=opts.hidden_size, num_layers=opts.layers)
    write_jsonl(work / "pairs.jsonl", toy_apt_rows(opts.rows))
    seconds, metrics = {}, {}
    for dtype in ("fp32", "bf16"):
        out = work / f"out-{dtype}"
        args = [
            "--model.model_name_or_path",
            str(model),
            "--data.dataset",
            str(work / "pairs.jsonl"),
            "--data.prompt_key",
            "prompt",
            "--train.micro_batch_size",
            "8",
            "--train.batch_size",
            "16",
            "--ds.attn_implementation",
            "eager",
            "--data.max_len",
            "64",
            "--train.max_epochs",
            str(opts.epochs),
            "--adam.lr",
            "1e-3",
            "--apt.sft_coef",
            "0.5",
            "--apt.weight_key",
            "weight",
            "--ds.param_dtype",
            dtype,
            "--ckpt.output_dir",
            str(out),
        ]
        start = time.perf_counter()
        run_training("openrlhf_weakness.cli.train_apt", args, work / f"{dtype}.log", use_launcher=False)
        seconds[dtype] = time.perf_counter() - start
        last = json.loads((out / "apt_metrics.jsonl").read_text().splitlines()[-1])
        metrics[dtype] = {k: last[k] for k in ("global_step", "loss", "margin", "chosen_logp")}
        print(f"{dtype}: {seconds[dtype]:.1f} s for {last['global_step']} steps; last {metrics[dtype]}", flush=True)
    ratio = seconds["bf16"] / seconds["fp32"]
    print(f"bf16 / fp32 wall time: {ratio:.2f}x (hidden {opts.hidden_size}, {opts.layers} layers, {opts.rows} rows)")
    write_json(
        opts.out,
        {
            "model": {"hidden_size": opts.hidden_size, "layers": opts.layers},
            "rows": opts.rows,
            "epochs": opts.epochs,
            "seconds": seconds,
            "bf16_over_fp32": ratio,
            "last": metrics,
        },
    )


if __name__ == "__main__":
    main()
