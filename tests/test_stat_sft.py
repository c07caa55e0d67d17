"""STAT-Sel inside OpenRLHF's real SFT engine on CPU: the weighted sampler feeds train_sft's dataloader."""

from __future__ import annotations

import os
import subprocess

import pytest

from openrlhf_weakness.cli import train_stat_sft
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import run_training, single_process_env

ROWS = [{"input": f"What is {i} plus 1?", "output": f"It is {i + 1}.", "stat_weight": float(i % 2)} for i in range(16)]


def _args(model, data, out, *extra):
    return [
        "--model.model_name_or_path",
        str(model),
        "--data.dataset",
        str(data),
        "--data.input_key",
        "input",
        "--data.output_key",
        "output",
        "--data.apply_chat_template",
        "--train.micro_batch_size",
        "4",
        "--train.batch_size",
        "8",
        "--ds.attn_implementation",
        "eager",
        "--data.max_len",
        "64",
        "--ckpt.output_dir",
        str(out),
        *extra,
    ]


def test_weighted_sampler_feeds_openrlhf_sft_dataloader(tiny_model, tmp_path):
    """In a child process: the real strategy, blending_datasets, SFTDataset subclass and dataloader."""
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, ROWS)
    code = f"""
import sys
sys.argv = ["x"]
from openrlhf_weakness import openrlhf_cli, patches
patches.apply()
from openrlhf_weakness.cli.train_stat_sft import install_sampler
install_sampler("stat_weight", 400)
import openrlhf.datasets
from openrlhf.datasets.utils import blending_datasets
from openrlhf.utils import get_strategy, get_tokenizer
args = openrlhf_cli.parse_args("openrlhf.cli.train_sft", {_args(tiny_model, data, tmp_path / "o")!r})
strategy = get_strategy(args)
strategy.setup_distributed()
tok = get_tokenizer(args.model.model_name_or_path, None, "right", strategy)
ds = openrlhf.datasets.SFTDataset(blending_datasets(args.data.dataset, None, strategy), tok, 64, strategy)
loader = strategy.setup_dataloader(ds, 4, True, True, ds.collate_fn)
print("SAMPLER", type(loader.sampler).__name__, len(loader.sampler))
seen = [i for i in loader.sampler]
print("ODD_ONLY", all(ds.stat_weights[i] == 1.0 for i in seen), len(set(seen)))
"""
    proc = subprocess.run(
        [os.sys.executable, "-c", code], capture_output=True, text=True, env=single_process_env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SAMPLER SkillWeightedSampler 400" in proc.stdout
    assert "ODD_ONLY True 8" in proc.stdout  # only weighted rows are drawn, and all 8 of them


def test_train_stat_sft_runs_to_completion_on_cpu(tiny_model, tmp_path):
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, ROWS)
    run_training(
        "openrlhf_weakness.cli.train_stat_sft",
        _args(tiny_model, data, tmp_path / "out"),
        tmp_path / "log.txt",
        use_launcher=False,
    )
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert "100%" in (tmp_path / "log.txt").read_text()


def test_bad_weights_fail_before_any_model_loads(tmp_path):
    data = tmp_path / "bad.jsonl"
    write_jsonl(
        data, [{"input": "q", "output": "a", "stat_weight": 1}, {"input": "q", "output": "a", "stat_weight": "x"}]
    )
    with pytest.raises(SystemExit, match=r"bad.jsonl, line 2, key 'stat_weight': must be a number >= 0"):
        train_stat_sft.main(_args(tmp_path / "no-model", data, tmp_path / "o"))
    write_jsonl(data, [{"input": "q", "output": "a", "stat_weight": 0}])
    with pytest.raises(SystemExit, match="every 'stat_weight' is 0"):
        train_stat_sft.main(_args(tmp_path / "no-model", data, tmp_path / "o"))
