"""The chains end to end on a tiny model (`make grpo-chain`): STAT-Sel -> SFT -> GRPO -> the next STAT round, and APT ->
GRPO -> the next APT round's pairs, through the CPU recipes, every stage real, rollouts on the vLLM stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def run_recipe(name: str, work: Path) -> str:
    env = dict(os.environ, WORK=str(work), PY=sys.executable, OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", str(RECIPES / name)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path)]


@pytest.mark.slow
def test_stat_then_grpo_chain_counts_grpo_failures_in_the_next_profile(tmp_path):
    output = run_recipe("stat_then_grpo_cpu.sh", tmp_path)
    prompts = read_jsonl(tmp_path / "stat" / "grpo_prompts.jsonl")
    assert prompts and all(p["datasource"] == json.loads(p["label"])["datasource"] for p in prompts)
    assert "eval_add_pass1" in output  # the exported datasource reaches OpenRLHF's per-skill eval
    ledger = read_jsonl(tmp_path / "ledger.jsonl")
    assert ledger and {row["datasource"] for row in ledger} <= {"add", "sub"}
    first = json.loads((tmp_path / "stat" / "profile.json").read_text())["counts"]
    second = json.loads((tmp_path / "round2" / "profile.json").read_text())["counts"]
    from_ledger = Counter(row["datasource"] for row in ledger)
    assert {skill: second.get(skill, 0) - first.get(skill, 0) for skill in ("add", "sub")} == {
        skill: from_ledger.get(skill, 0) for skill in ("add", "sub")
    }


@pytest.mark.slow
def test_apt_then_grpo_chain_pairs_every_grpo_failure(tmp_path):
    run_recipe("apt_then_grpo_cpu.sh", tmp_path)
    ledger = read_jsonl(tmp_path / "ledger.jsonl")
    pairs = read_jsonl(tmp_path / "next_pairs.jsonl")
    assert ledger and len(pairs) == len(ledger)
    assert [p["rejected"] for p in pairs] == [row["response"] for row in ledger]
    assert all(p["chosen"] == json.loads(row["label"])["answer"] for p, row in zip(pairs, ledger))
