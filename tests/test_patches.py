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


def test_apply_refuses_an_untested_openrlhf_stack_on_every_host(monkeypatch):
    """The check runs before any patch, with CUDA as without, and names the tested versions in one line."""
    from openrlhf_weakness import compat, patches

    found = {"openrlhf": "0.12.0", "deepspeed": "0.19.6", "transformers": "5.15.0"}
    monkeypatch.setattr(compat, "installed_version", lambda dist: found[dist])
    monkeypatch.delenv(patches.ALLOW_ANY_VERSION_ENV, raising=False)
    for cuda in (True, False):
        monkeypatch.setattr(patches, "cuda_available", lambda: cuda)
        with pytest.raises(patches.UnsupportedOpenRLHFVersion) as err:
            patches.apply()
        assert "\n" not in str(err.value)
        assert str(err.value).startswith(
            "openrlhf-weakness is tested with OpenRLHF 0.11.0/0.11.1/0.11.2, DeepSpeed 0.19.5/0.19.6, "
            "transformers 5.15.0; found OpenRLHF 0.12.0."
        )
    found.update(openrlhf="0.11.1", transformers="5.16.0")
    with pytest.raises(patches.UnsupportedOpenRLHFVersion, match="; found transformers 5.16.0. Install a tested"):
        patches.check_openrlhf_version()
    found.update(openrlhf=None)
    with pytest.raises(patches.UnsupportedOpenRLHFVersion, match="OpenRLHF is not installed"):
        patches.check_openrlhf_version()


def test_the_escape_hatch_goes_on_with_one_warning(monkeypatch, caplog):
    from openrlhf_weakness import compat

    monkeypatch.setenv(compat.ALLOW_ANY_VERSION_ENV, "1")
    found = {"openrlhf": "0.12.3", "deepspeed": "0.20.0+cu128", "transformers": "5.15.0"}
    with caplog.at_level("WARNING", logger="openrlhf_weakness.compat"):
        assert compat.check_versions(found) == found
        compat.check_versions(found)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert (
        "found OpenRLHF 0.12.3, DeepSpeed 0.20.0+cu128. Going on because OPENRLHF_WEAKNESS_ALLOW_ANY_OPENRLHF=1"
        in (warnings[0])
    )
    with pytest.raises(compat.UnsupportedOpenRLHFVersion, match="not installed"):  # no hatch without OpenRLHF
        compat.check_versions({**found, "openrlhf": None})
    monkeypatch.delenv(compat.ALLOW_ANY_VERSION_ENV)
    assert (
        compat.check_versions({**found, "openrlhf": "0.11.2", "deepspeed": "0.19.6+cpu"})["deepspeed"] == "0.19.6+cpu"
    )


def test_default_attention_follows_the_host():
    """eager on CPU; on CUDA flash-attn only when the real package imports (it does not here), else sdpa."""
    from openrlhf_weakness.patches import default_attn_implementation

    assert default_attn_implementation(cuda=False) == "eager"
    assert default_attn_implementation(cuda=True) == "sdpa"


def test_a_command_stops_with_one_line_on_an_untested_openrlhf():
    """Exit status 2 and a single stderr line, before torch or OpenRLHF is imported."""
    proc = run_python("""
        import sys
        from openrlhf_weakness import compat
        versions = {"openrlhf": "0.12.0", "deepspeed": "0.19.6", "transformers": "5.15.0"}
        compat.installed_version = versions.get
        from openrlhf_weakness.cli import train_apt
        try:
            train_apt.main(["--data.dataset", "pairs.jsonl"])
        finally:
            print("HEAVY", sorted(m for m in ("torch", "openrlhf") if m in sys.modules))
        """)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
        "train_apt: openrlhf-weakness is tested with OpenRLHF"
    )
    assert "found OpenRLHF 0.12.0" in proc.stderr and "HEAVY []" in proc.stdout
