"""Recipes: the CPU one runs as written; the GPU one's flags are accepted by OpenRLHF's own parser and ours."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def recipe_command(path: Path) -> list[str]:
    """The ``training_commands`` here-document of an OpenRLHF-style recipe, variables replaced by placeholders."""
    text = path.read_text()
    body = re.search(r"training_commands <<EOF[^\n]*\n(.*?)\nEOF", text, re.S).group(1)
    body = re.sub(r"\$\{?(\w+)\}?", r"/placeholder/\1", body.replace("\\\n", " "))
    return shlex.split(body)


def test_gpu_recipe_flags_are_all_accepted():
    from openrlhf_weakness import openrlhf_cli, patches
    from openrlhf_weakness.cli import train_apt

    module, *argv = recipe_command(RECIPES / "train_apt.sh")
    assert module == "openrlhf_weakness.cli.train_apt"
    known, rest = train_apt._apt_parser().parse_known_args(argv)
    assert not [a for a in rest if a.startswith("--apt.")]
    assert getattr(known, "apt.sft_coef") == 0.5 and getattr(known, "apt.weight_key") == "weight"
    patches.apply()
    args = openrlhf_cli.parse_args(train_apt.OPENRLHF_MODULE, rest)  # exits on any unknown flag
    assert args.model.beta == 0.1 and args.ds.lora.rank == 64 and args.ds.zero_stage == 3


def test_cpu_recipe_runs_and_trains(tmp_path):
    env = dict(os.environ, WORK=str(tmp_path / "work"), PY=sys.executable)
    proc = subprocess.run(
        ["bash", str(RECIPES / "train_apt_cpu.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "work" / "out" / "apt_summary.json").read_text())
    assert summary["steps"] == 16 and summary["last"]["margin"] > summary["first"]["margin"]
