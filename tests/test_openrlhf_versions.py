"""The OpenRLHF internals this package overrides, calls or swaps (``compat.SURFACE``) hold in every OpenRLHF release
it claims (``SUPPORTED_OPENRLHF``), read from each release's wheel (pure Python, about 200 KB, fetched with pip from
the package registry as the install does); a change to one of them is reported precisely.

Measured 2026-12: 0.11.0, 0.11.1 and 0.11.2 keep the whole surface; 0.10.4 does not (``_get_batch_logps`` still takes
``average_log_prob``), which is the negative control below.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from openrlhf_weakness import SUPPORTED_OPENRLHF, compat


def _openrlhf_sources(version: str, cache: Path) -> Path:
    """The folder holding ``openrlhf/`` from the release's wheel (its files sit under ``*.data/purelib``)."""
    out = cache / version
    if not out.exists():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                str(cache),
                f"openrlhf=={version}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        (wheel,) = cache.glob(f"openrlhf-{version}-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(out)
    (root,) = {p.parent.parent for p in out.rglob("openrlhf/__init__.py")}
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("openrlhf-wheels")


def test_the_installed_openrlhf_keeps_the_surface():
    root = compat.installed_openrlhf_root()
    assert root is not None
    assert compat.surface_problems(root) == []
    assert compat.installed_version("openrlhf") in SUPPORTED_OPENRLHF


@pytest.mark.parametrize("version", SUPPORTED_OPENRLHF)
def test_every_supported_release_keeps_the_surface(version, cache):
    assert compat.surface_problems(_openrlhf_sources(version, cache)) == []


def test_a_release_that_changed_a_signature_fails(cache):
    assert compat.surface_problems(_openrlhf_sources("0.10.4", cache)) == [
        "openrlhf/trainer/dpo_trainer.py: DPOTrainer._get_batch_logps(self, per_token_logps, attention_mask, "
        "prompt_id_lens, average_log_prob=False), expected (self, per_token_logps, attention_mask, prompt_id_lens)"
    ]


def test_each_kind_of_change_is_reported(tmp_path):
    """Edit a copy of the installed sources the way a release could, one change per kind of fact."""
    root = tmp_path / "src"
    shutil.copytree(compat.installed_openrlhf_root() / "openrlhf", root / "openrlhf")
    pkg = root / "openrlhf"

    def edit(rel: str, old: str, new: str) -> None:
        path = pkg / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1))

    edit(
        "trainer/dpo_trainer.py", "def evaluate(self, eval_dataloader, steps=0)", "def evaluate(self, loader, steps=0)"
    )
    edit("trainer/dpo_trainer.py", "self.nll_loss =", "self.use_nll_loss =")
    edit(
        "cli/train_dpo.py",
        "from openrlhf.trainer.dpo_trainer import DPOTrainer",
        "from openrlhf.trainer import DPOTrainer",
    )
    edit("cli/train_sft.py", '"--data.output_key"', '"--data.response_key"')
    edit(
        "utils/deepspeed/deepspeed.py",
        "torch.cuda.empty_cache()",
        "torch.cuda.empty_cache(); torch.cuda.mem_get_info()",
    )
    edit(
        "models/ring_attn_utils.py",
        "from flash_attn.utils.distributed import all_gather",
        "from flash_attn.utils.distributed import all_gather, reduce_scatter",
    )
    assert compat.surface_problems(root) == [
        "openrlhf/trainer/dpo_trainer.py: DPOTrainer.evaluate(self, loader, steps=0), expected "
        "(self, eval_dataloader, steps=0)",
        "openrlhf/trainer/dpo_trainer.py: DPOTrainer.nll_loss is gone",
        "openrlhf/utils/deepspeed/deepspeed.py: uses torch.cuda.mem_get_info",
        "openrlhf/cli/train_dpo.py: no module-level `from openrlhf.trainer.dpo_trainer import DPOTrainer`",
        "openrlhf/cli/train_sft.py: --data.output_key is not a flag",
        "openrlhf/models/ring_attn_utils.py: imports reduce_scatter from flash_attn.utils.distributed at module level",
    ]


@pytest.mark.slow
def test_the_supported_list_is_every_0_11_release_on_the_registry():
    """A new 0.11.x on the registry fails this until it is checked above and added to SUPPORTED_OPENRLHF."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "openrlhf"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = re.search(r"Available versions: (.*)", proc.stdout).group(1).split(", ")
    assert sorted(v for v in listed if v.startswith("0.11.")) == sorted(SUPPORTED_OPENRLHF)
