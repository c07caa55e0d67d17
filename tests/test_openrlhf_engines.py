"""OpenRLHF's own train_dpo and train_sft run on CPU (ZeRO-2) through the patches; checkpoints reload and generate."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import run_training
from openrlhf_weakness.testing.toy_data import toy_rows

COMMON = [
    "--train.micro_batch_size",
    "4",
    "--train.batch_size",
    "8",
    "--ds.zero_stage",
    "2",
    "--ds.attn_implementation",
    "eager",
    "--data.max_len",
    "64",
    "--adam.lr",
    "1e-3",
]


def _weights_changed_and_generates(before: str, after: str) -> None:
    old = AutoModelForCausalLM.from_pretrained(before)
    new = AutoModelForCausalLM.from_pretrained(after)
    tok = AutoTokenizer.from_pretrained(after)
    diffs = [(p0 - p1).abs().max().item() for p0, p1 in zip(old.parameters(), new.parameters())]
    assert max(diffs) > 1e-4, "training did not change the weights"
    batch = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = new.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == batch["input_ids"].shape[1] + 6
    assert torch.isfinite(new(**batch).logits).all()


def test_openrlhf_train_dpo_runs_on_cpu(tiny_model, tmp_path):
    data = str(tmp_path / "pairs.jsonl")
    write_jsonl(data, toy_rows(16))
    out = tmp_path / "dpo"
    args = [
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        data,
        "--data.prompt_key",
        "prompt",
        "--ckpt.output_dir",
        str(out),
        *COMMON,
    ]
    run_training("openrlhf.cli.train_dpo", args, tmp_path / "dpo.log", use_launcher=False)
    log = (tmp_path / "dpo.log").read_text()
    assert "Train step of epoch 0: 100%" in log
    _weights_changed_and_generates(str(tiny_model), str(out))


def test_openrlhf_train_sft_runs_on_cpu(tiny_model, tmp_path):
    rows = [{"input": r["prompt"], "output": r["chosen"]} for r in toy_rows(16)]
    data = str(tmp_path / "sft.jsonl")
    write_jsonl(data, rows)
    out = tmp_path / "sft"
    args = [
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        data,
        "--data.input_key",
        "input",
        "--data.output_key",
        "output",
        "--data.apply_chat_template",
        "--ckpt.output_dir",
        str(out),
        *COMMON,
    ]
    run_training("openrlhf.cli.train_sft", args, tmp_path / "sft.log", use_launcher=False)
    assert "100%" in (tmp_path / "sft.log").read_text()
    _weights_changed_and_generates(str(tiny_model), str(out))
