"""The top-level patches/ diffs: they apply to the installed OpenRLHF, stock train_dpo trains on CPU from the patched
copy with the runtime patches off, and each diff changes exactly what its runtime twin replaces."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import single_process_env
from openrlhf_weakness.testing.toy_data import toy_rows

PATCHES = Path(__file__).resolve().parent.parent / "patches"


def _installed_openrlhf() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("openrlhf").origin).parent


def _patch_files() -> list[Path]:
    return sorted(PATCHES.glob("*.patch"))


def _apply_all(root: Path) -> None:
    for diff in _patch_files():
        proc = subprocess.run(
            ["patch", "-p1", "--forward", "--batch", "-d", str(root), "-i", str(diff)], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{diff.name} does not apply:\n{proc.stdout}{proc.stderr}"


def test_one_diff_per_runtime_patch_with_a_header_saying_why():
    from openrlhf_weakness.patches import _patches

    names = {re.sub(r"^\d+-", "", p.stem) for p in _patch_files()}
    assert names == {p.name for p in _patches()}
    for diff in _patch_files():
        header = diff.read_text().split("\n--- a/", 1)[0]
        assert "Why:" in header and "Runtime twin:" in header and "patch -p1" in header


@pytest.fixture(scope="module")
def patched_copy(tmp_path_factory) -> Path:
    """The installed OpenRLHF package copied and patched with every diff in patches/."""
    copy = tmp_path_factory.mktemp("site")
    shutil.copytree(_installed_openrlhf(), copy / "openrlhf", ignore=shutil.ignore_patterns("__pycache__"))
    _apply_all(copy)
    return copy


def test_diffs_guard_every_call_site_their_runtime_twin_replaces(patched_copy):
    """In step: a new CUDA call in the strategy, or a new module-level flash_attn import, in OpenRLHF fails here."""
    for rel in ("openrlhf/utils/deepspeed/deepspeed.py", "openrlhf/utils/distributed_util.py"):
        lines = (patched_copy / rel).read_text().splitlines()
        for i, line in enumerate(lines):
            if "torch.cuda." in line.replace("torch.cuda.is_available()", ""):
                context = line + (lines[i - 1] if i else "")
                assert "torch.cuda.is_available()" in context, f"{rel}:{i + 1} calls CUDA unguarded: {line.strip()}"
        assert not re.search(r"init_device_mesh\(\s*\"cuda\"", "\n".join(lines)), f"{rel}: a cuda-only device mesh"
    for module in (patched_copy / "openrlhf").rglob("*.py"):
        top_level = [line for line in module.read_text().splitlines() if re.match(r"(from|import) flash_attn", line)]
        assert not top_level, f"{module.relative_to(patched_copy)} imports flash_attn unguarded: {top_level}"


@pytest.mark.slow
def test_stock_train_dpo_trains_on_cpu_from_a_patched_copy(tiny_model, tmp_path, patched_copy):
    copy = patched_copy
    data, out = tmp_path / "pairs.jsonl", tmp_path / "dpo"
    write_jsonl(data, toy_rows(16))
    # fp32: trained through 0003-fp32_params.patch
    argv = [
        "openrlhf.cli.train_dpo",
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        str(data),
        "--data.prompt_key",
        "prompt",
        "--ckpt.output_dir",
        str(out),
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
        "--ds.param_dtype",
        "fp32",
    ]
    code = (
        "import runpy, sys, openrlhf; print('FROM', openrlhf.__file__, flush=True); "
        f"sys.argv = {argv!r}; runpy.run_module('openrlhf.cli.train_dpo', run_name='__main__')"
    )
    env = single_process_env()
    # the patched copy shadows the installed OpenRLHF; openrlhf_weakness is never imported
    env["PYTHONPATH"] = str(copy)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"FROM {copy}" in proc.stdout and "openrlhf_weakness" not in proc.stdout + proc.stderr
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {weights.get_slice(name).get_dtype() for name in weights.keys()} == {"F32"}
