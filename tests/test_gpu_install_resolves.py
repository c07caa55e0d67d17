"""The GPU install resolves: requirements/gpu.lock and the gpu, vllm, demo and dev extras, for Linux x86_64 and CPython
3.11/3.12, checked here by uv's resolver (it builds metadata for the target platform, so source-only packages such as
deepspeed and flash-attn are resolved too; pip's --platform mode refuses them). A pin that cannot be satisfied together
with openrlhf[vllm]==0.11.2 fails here rather than on a user's cluster. Needs the package registry, as the install
does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "gpu.lock"


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is missing: `make install` installs it (dev extra)"
    return uv


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[name.split("[")[0].strip().lower()] = version.split(";")[0].strip()
    return out


@pytest.mark.parametrize(
    "python, install_path",
    [
        ("3.11", True),
        pytest.param("3.12", True, marks=pytest.mark.slow),
        pytest.param("3.11", False, marks=pytest.mark.slow),
    ],
    ids=["install.sh-py3.11", "install.sh-py3.12", "pip-extra-py3.11"],
)
def test_gpu_lock_and_extra_resolve_for_linux_x86_64(python, install_path, tmp_path):
    """install.sh's resolve (flash-attn overridden out, installed after from a wheel only) and a pip user's
    ``openrlhf-weakness[gpu,vllm,demo]`` on a fresh host (flash-attn resolved to the lock's pin, as openrlhf requires
    it)."""
    out = tmp_path / "resolved.txt"
    cmd = [
        _uv(),
        "pip",
        "compile",
        str(ROOT / "pyproject.toml"),
        "--extra",
        "gpu",
        "--extra",
        "vllm",
        "--extra",
        "demo",
        "--extra",
        "dev",
        "--constraint",
        str(LOCK),
        "--python-platform",
        "x86_64-manylinux_2_28",
        "--python-version",
        python,
        "--no-header",
        "--quiet",
        "-o",
        str(out),
    ]
    if install_path:
        cmd += ["--override", str(ROOT / "requirements" / "gpu-overrides.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved, wanted = _pins(out), _pins(LOCK)
    for name in ("openrlhf", "vllm", "deepspeed", "transformers", "ray", "faiss-gpu-cu12"):
        assert resolved.get(name) == wanted[name], f"{name}: lock {wanted[name]}, resolved {resolved.get(name)}"
    assert "torch" in resolved
    if install_path:
        assert "flash-attn" not in resolved  # never built from source by the install
    else:
        assert resolved.get("flash-attn") == wanted["flash-attn"]


def test_install_script_takes_flash_attn_from_a_prebuilt_wheel_only():
    """The pin the script installs is the lock's, and only a binary wheel is accepted (no hour-long source build)."""
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert "--override requirements/gpu-overrides.txt" in script
    assert '--no-deps --only-binary=:all: "$FLASH_ATTN"' in script
    assert "flash-attn==" in (ROOT / "requirements" / "gpu.lock").read_text()
