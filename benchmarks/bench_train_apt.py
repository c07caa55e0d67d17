"""Step time of APT's trainer against OpenRLHF's stock DPOTrainer: same model, data, steps and DeepSpeed engine, in one
process, alternating rounds. Stock runs with ``--model.nll_loss_coef 0.5``; APT with ``--apt.sft_coef 0.5`` (the same
objective, through APT's own SFT term, with per-source metrics and a weight column).

    .venv/bin/python benchmarks/bench_train_apt.py [--hidden_size 256 --layers 4 --rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--micro_batch_size", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=str, default="benchmarks/results/train_apt.json")
    opts = parser.parse_args()

    from openrlhf_weakness import openrlhf_cli, patches
    from openrlhf_weakness.launch import single_process_env

    patches.apply()
    os.environ.update(single_process_env())
    import torch
    from openrlhf.datasets import RewardDataset
    from openrlhf.datasets.utils import blending_datasets
    from openrlhf.models import Actor
    from openrlhf.trainer.dpo_trainer import DPOTrainer
    from openrlhf.utils import get_strategy, get_tokenizer

    from openrlhf_weakness.apt.config import APTTrainConfig
    from openrlhf_weakness.apt.dataset import APTRewardDataset
    from openrlhf_weakness.apt.trainer import APTTrainer
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.testing.tiny_model import build_tiny_model
    from openrlhf_weakness.testing.toy_data import toy_rows

    work = Path(tempfile.mkdtemp(prefix="bench-apt-"))
    model_dir = build_tiny_model(work / "model", hidden_size=opts.hidden_size, num_layers=opts.layers)
    rows = [dict(r, source="bad" if i % 2 else "similar", weight=1.0) for i, r in enumerate(toy_rows(opts.rows))]
    write_jsonl(work / "pairs.jsonl", rows)
    argv = [
        "--model.model_name_or_path",
        str(model_dir),
        "--data.dataset",
        str(work / "pairs.jsonl"),
        "--data.prompt_key",
        "prompt",
        "--train.micro_batch_size",
        str(opts.micro_batch_size),
        "--train.batch_size",
        str(opts.batch_size),
        "--ds.attn_implementation",
        "eager",
        "--data.max_len",
        "64",
        "--model.nll_loss_coef",
        "0.5",
        "--ckpt.output_dir",
        str(work / "out"),
    ]
    args = openrlhf_cli.parse_args("openrlhf.cli.train_dpo", argv)
    strategy = get_strategy(args)
    strategy.setup_distributed()
    model = Actor(str(model_dir), attn_implementation="eager", ds_config=strategy.get_ds_train_config())
    ref = Actor(str(model_dir), attn_implementation="eager", ds_config=strategy.get_ds_eval_config())
    tok = get_tokenizer(str(model_dir), model.model, "right", strategy)
    data = blending_datasets(args.data.dataset, None, strategy)
    apt_cfg = APTTrainConfig(sft_coef=0.5, weight_key="weight")
    datasets = {
        "stock": RewardDataset(data, tok, args.data.max_len, strategy, is_dpo=True),
        "apt": APTRewardDataset(data, tok, args.data.max_len, strategy, apt=apt_cfg),
    }
    steps_per_epoch = len(data) // args.train.batch_size
    cfg = dict(
        optim=args.optim,
        muon=vars(args.muon),
        adam=vars(args.adam),
        lr_scheduler=args.lr_scheduler,
        lr_warmup_ratio=args.lr_warmup_ratio,
        min_lr_ratio=args.min_lr_ratio,
        max_norm=args.max_norm,
        scheduler_steps=steps_per_epoch * opts.rounds * 2,
    )
    (model, optim, scheduler), ref = strategy.prepare((model, cfg), ref)

    trainers = {}
    for name, ds in datasets.items():
        loader = strategy.setup_dataloader(ds, args.train.micro_batch_size, True, True, ds.collate_fn)
        common = dict(
            model=model,
            ref_model=ref,
            strategy=strategy,
            tokenizer=tok,
            optim=optim,
            train_dataloader=loader,
            eval_dataloader=None,
            scheduler=scheduler,
            beta=0.1,
            max_epochs=1,
        )
        trainers[name] = APTTrainer(**common, apt=apt_cfg) if name == "apt" else DPOTrainer(**common)
    trainers["apt"].nll_loss = False  # APT's own SFT term (--apt.sft_coef 0.5) replaces OpenRLHF's NLL term

    micro_steps = len(trainers["stock"].train_dataloader)
    per_step = {"stock": [], "apt": []}
    for r in range(opts.rounds + 1):  # round 0 warms up both and is not counted
        for name in ("stock", "apt") if r % 2 else ("apt", "stock"):
            start = time.perf_counter()
            with open(os.devnull, "w") as devnull, redirect_stderr(devnull):
                trainers[name].fit(args, 0, steps_per_epoch)
            if r:
                per_step[name].append((time.perf_counter() - start) / micro_steps)
    stock, apt = statistics.median(per_step["stock"]), statistics.median(per_step["apt"])
    result = {
        "model": f"Llama hidden {opts.hidden_size}, {opts.layers} layers, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters",
        "micro_batch_size": opts.micro_batch_size,
        "micro_steps_per_round": micro_steps,
        "rounds": opts.rounds,
        "stock_dpo_s_per_step": stock,
        "apt_s_per_step": apt,
        "ratio_apt_over_stock": apt / stock,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['model']}; {micro_steps} micro-steps of {opts.micro_batch_size} pairs per round, {opts.rounds} rounds"
    )
    print(f"  stock DPOTrainer (nll_loss_coef 0.5): {stock * 1000:.1f} ms/step (median)")
    print(f"  APTTrainer (sft_coef 0.5)           : {apt * 1000:.1f} ms/step (median)")
    print(f"  ratio APT / stock: {apt / stock:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
