"""Shared fixtures: a tiny Llama built once per test run, and helpers to run Python in a clean child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub: models are built or packaged
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def smollm_dir(tmp_path_factory):
    """The folder SmolLM2-135M-Instruct is converted into from the offline GGUF, once per test run."""
    return tmp_path_factory.mktemp("smollm")


@pytest.fixture
def standin_on_path(monkeypatch):
    """The vLLM stand-in importable as ``vllm`` in this process for one test, gone afterwards."""
    from openrlhf_weakness.rollout import STANDIN_PATH

    monkeypatch.syspath_prepend(STANDIN_PATH)
    yield STANDIN_PATH
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        del sys.modules[name]


def run_python(code: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (patches and torch.distributed state do not leak between tests)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=timeout
    )
