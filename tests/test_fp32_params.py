"""``--ds.param_dtype fp32`` on a CPU: OpenRLHF refuses it alone, and with the patch trains in float32 end to end."""

from __future__ import annotations

import json

import pytest
from conftest import run_python
from safetensors import safe_open

from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import run_training
from openrlhf_weakness.patches.fp32_params import split_param_dtype
from openrlhf_weakness.testing.make_toy import toy_apt_rows


@pytest.mark.parametrize(
    "argv, expected, fp32",
    [
        (["--ds.param_dtype", "fp32", "--x", "1"], ["--ds.param_dtype", "bf16", "--x", "1"], True),
        (["--a", "--ds.param_dtype=fp32"], ["--a", "--ds.param_dtype=bf16"], True),
        (["--ds.param_dtype", "fp16"], ["--ds.param_dtype", "fp16"], False),
        (["--data.dataset", "fp32", "--ds.param_dtype"], ["--data.dataset", "fp32", "--ds.param_dtype"], False),
    ],
)
def test_split_param_dtype_rewrites_only_the_fp32_value_of_the_flag(argv, expected, fp32):
    assert split_param_dtype(argv) == (expected, fp32)


def test_openrlhf_refuses_fp32_alone_and_with_the_patch_parses_it_and_loads_float32():
    proc = run_python("""
        from openrlhf_weakness import openrlhf_cli, patches
        from openrlhf_weakness.patches import flash_attn_stub, strategy_cpu
        flash_attn_stub.PATCH.install(); strategy_cpu.PATCH.install()
        try:
            openrlhf_cli.parse_args("openrlhf.cli.train_dpo", ["--ds.param_dtype", "fp32"])
        except SystemExit as exit:
            print("REFUSED", exit.code)
        print("ACTIVE", patches.apply())
        args = openrlhf_cli.parse_args("openrlhf.cli.train_dpo", ["--ds.param_dtype", "fp32"])
        from openrlhf.utils.utils import convert_to_torch_dtype
        print("PARSED", args.ds.param_dtype, convert_to_torch_dtype("fp32"), convert_to_torch_dtype("bf16"))
        """)
    assert proc.returncode == 0, proc.stderr
    assert "invalid choice: 'fp32'" in proc.stderr and "REFUSED 2" in proc.stdout  # OpenRLHF's own parser
    assert "'fp32_params']" in proc.stdout and "PARSED fp32 torch.float32 torch.bfloat16" in proc.stdout


def test_train_apt_in_fp32_trains_float32_weights_and_the_margin_rises(tiny_model, tmp_path):
    data = tmp_path / "apt.jsonl"
    write_jsonl(data, toy_apt_rows(32))
    out = tmp_path / "out"
    args = [
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        str(data),
        "--data.prompt_key",
        "prompt",
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
        "--ckpt.output_dir",
        str(out),
        "--train.max_epochs",
        "2",
        "--adam.lr",
        "1e-3",
        "--apt.sft_coef",
        "0.5",
        "--apt.weight_key",
        "weight",
        "--ds.param_dtype",
        "fp32",
    ]
    run_training("openrlhf_weakness.cli.train_apt", args, tmp_path / "log.txt", use_launcher=False)

    metrics = [json.loads(line) for line in (out / "apt_metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 8 and metrics[-1]["margin"] > 0.02
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}
    assert dtypes == {"F32"}  # with DeepSpeed's bf16 on, the engine casts the weights and saves bf16


def test_demos_train_in_fp32_on_a_cpu_host_only(monkeypatch):
    from openrlhf_weakness import patches

    assert patches.cpu_training_dtype_args() == ["--ds.param_dtype", "fp32"]  # this machine has no CUDA
    monkeypatch.setattr(patches, "cuda_available", lambda: True)  # simulated CUDA: OpenRLHF's bf16 default stands
    assert patches.cpu_training_dtype_args() == []
