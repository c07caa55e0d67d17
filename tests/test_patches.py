"""Each CPU patch is needed (OpenRLHF fails without it) and sufficient, and stays off where it must."""

from __future__ import annotations

import pytest
from conftest import run_python

from openrlhf_weakness.launch import single_process_env


def test_openrlhf_models_fails_to_import_without_the_flash_attn_stub():
    proc = run_python("import openrlhf.models")
    assert proc.returncode != 0
    assert "flash_attn" in proc.stderr


def test_openrlhf_models_imports_with_the_flash_attn_stub_and_stub_calls_fail_clearly():
    proc = run_python("""
        from openrlhf_weakness.patches import flash_attn_stub
        flash_attn_stub.PATCH.install()
        import openrlhf.models
        from flash_attn.bert_padding import unpad_input
        try:
            unpad_input(None, None)
        except RuntimeError as err:
            print("ERR", err)
        """)
    assert proc.returncode == 0, proc.stderr
    assert "ERR flash_attn.bert_padding.unpad_input was called" in proc.stdout
    assert "--ds.packing_samples" in proc.stdout


SETUP_STRATEGY = """
    from types import SimpleNamespace as NS
    from openrlhf_weakness.patches import flash_attn_stub, strategy_cpu
    flash_attn_stub.PATCH.install()
    {extra}
    from openrlhf.utils.deepspeed import DeepspeedStrategy
    args = NS(local_rank=-1, ds=NS(param_dtype="bf16"), train=NS())
    strategy = DeepspeedStrategy(micro_train_batch_size=1, train_batch_size=4, args=args)
    strategy.setup_distributed()
    print("REDUCED", strategy.all_reduce({{"loss": 3.0}}), strategy.all_gather(2.0).tolist())
    print("ACCUM", strategy.accumulated_gradient)
"""


def test_strategy_setup_fails_on_cpu_without_the_strategy_patch():
    proc = run_python(SETUP_STRATEGY.format(extra=""), env=single_process_env())
    assert proc.returncode != 0
    assert "CUDA" in proc.stderr or "cuda" in proc.stderr


def test_strategy_setup_all_reduce_and_all_gather_work_on_cpu_with_the_patch():
    proc = run_python(SETUP_STRATEGY.format(extra="strategy_cpu.PATCH.install()"), env=single_process_env())
    assert proc.returncode == 0, proc.stderr
    assert "REDUCED {'loss': 3.0} [2.0]" in proc.stdout
    assert "ACCUM 4" in proc.stdout


def test_with_cuda_simulated_only_the_flash_attn_stand_in_applies():
    """A GPU host without flash-attn (no prebuilt wheel matched) gets the stand-in and nothing else."""
    proc = run_python("""
        import sys, torch
        torch.cuda.is_available = lambda: True   # simulated CUDA: no GPU exists on this machine
        from openrlhf_weakness import patches
        print("ACTIVE", patches.apply())
        print("FLASH", "flash_attn" in sys.modules)
        print("DS", "openrlhf.utils.deepspeed.deepspeed" in sys.modules)
        """)
    assert proc.returncode == 0, proc.stderr
    assert "ACTIVE ['flash_attn_stub']" in proc.stdout  # flash-attn is not installed here; fp32_params is CPU-only
    assert "FLASH True" in proc.stdout and "DS False" in proc.stdout


def test_apply_is_idempotent_and_reports_active_patches():
    proc = run_python("""
        from openrlhf_weakness import patches
        print("FIRST", patches.apply())
        print("SECOND", patches.apply())
        import openrlhf.utils.deepspeed.deepspeed as m
        print("TORCH", type(m.torch).__name__, type(m.torch.cuda).__name__)
        import torch
        print("GLOBAL", torch.cuda.current_device.__module__)
        """)
    assert proc.returncode == 0, proc.stderr
    assert "FIRST ['flash_attn_stub', 'strategy_cpu', 'fp32_params']" in proc.stdout
    assert "SECOND ['flash_attn_stub', 'strategy_cpu', 'fp32_params']" in proc.stdout
    assert "TORCH TorchWithCpuCuda CpuCuda" in proc.stdout
    assert "GLOBAL torch.cuda" in proc.stdout  # the rest of the process keeps the real torch.cuda


def test_a_real_flash_attn_is_never_shadowed(tmp_path):
    pkg = tmp_path / "flash_attn"
    (pkg / "utils").mkdir(parents=True)
    (pkg / "__init__.py").write_text("REAL = True\n")
    names = ("index_first_axis", "pad_input", "rearrange", "unpad_input")
    (pkg / "bert_padding.py").write_text("".join(f"def {n}(*a): return 'real'\n" for n in names))
    (pkg / "utils" / "__init__.py").write_text("")
    (pkg / "utils" / "distributed.py").write_text("def all_gather(*a): return 'real'\n")
    proc = run_python(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        from openrlhf_weakness import patches
        print("ACTIVE", patches.apply())
        import flash_attn
        from flash_attn.bert_padding import unpad_input
        print("REAL", getattr(flash_attn, "REAL", False), unpad_input())
        """)
    assert proc.returncode == 0, proc.stderr
    assert "REAL True real" in proc.stdout
    assert "flash_attn_stub" not in proc.stdout.split("ACTIVE", 1)[1].splitlines()[0]


def test_apply_refuses_an_openrlhf_version_it_was_not_written_for(monkeypatch):
    from openrlhf_weakness import patches

    monkeypatch.setattr(patches, "openrlhf_version", lambda: "0.10.0")
    monkeypatch.delenv(patches.ALLOW_ANY_VERSION_ENV, raising=False)
    with pytest.raises(patches.UnsupportedOpenRLHFVersion, match="written for OpenRLHF 0.11.2, found 0.10.0"):
        patches.check_openrlhf_version()
    monkeypatch.setattr(patches, "openrlhf_version", lambda: None)
    with pytest.raises(patches.UnsupportedOpenRLHFVersion, match="not installed"):
        patches.check_openrlhf_version()


def test_default_attention_follows_the_host():
    """eager on CPU; on CUDA flash-attn only when the real package imports (it does not here), else sdpa."""
    from openrlhf_weakness.patches import default_attn_implementation

    assert default_attn_implementation(cuda=False) == "eager"
    assert default_attn_implementation(cuda=True) == "sdpa"
