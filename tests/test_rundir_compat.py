"""Run directories written before the stage runner are reused by a rerun: every stage's signature still holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "rundirs_v0"


def _decisions(run: Path) -> dict:
    manifest = json.loads((run / "manifest.json").read_text())
    return {d["stage"]: d["action"] for d in manifest["stages"]}


def test_an_apt_and_a_stat_run_directory_of_the_old_layout_are_reused(tmp_path, monkeypatch):
    from openrlhf_weakness.cli import apt, stat

    work = tmp_path / "fixture"
    shutil.copytree(FIXTURE, work)
    monkeypatch.chdir(work)  # the fixture was written from its folder, with the model as the relative path m0
    before = json.loads((work / "apt_run" / "final.json").read_text())
    apt_argv = [
        *("--loop.model", "m0", "--loop.run_dir", "apt_run", "--loop.iterations", "1", "--loop.patience", "5"),
        *("--loop.guard_max_drop", "1.0", "--data.train", "train.jsonl", "--data.dev", "dev.jsonl"),
        *("--data.guard", "guard.jsonl", "--data.pool", "pool.jsonl", "--gen.max_new_tokens", "6"),
        "--gen.chat_template_enable",
        *("--", "--train.micro_batch_size", "4", "--train.batch_size", "8", "--adam.lr", "1e-3"),
        *("--data.max_len", "64"),
    ]
    assert apt.main(apt_argv) == 0  # m0 does not exist here: any stage that recomputed would fail to load it
    decisions = _decisions(work / "apt_run")
    assert set(decisions) == {
        "base/eval",
        *(f"iter_0/{s}" for s in ("scored", "bad", "similar", "similar_scored", "pairs", "model", "eval")),
    }
    assert set(decisions.values()) == {"reused"}, decisions
    after = json.loads((work / "apt_run" / "final.json").read_text())
    assert after["history"][0]["dev"] == before["history"][0]["dev"] and after["best"] == before["best"]

    stat_argv = [
        *("--data.train", "stat_train.jsonl", "--data.dev", "stat_dev.jsonl", "--stat.run_dir", "stat_run"),
        *("--stat.skill_key", "datasource", "--stat.size", "8", "--gen.backend", "hf", "--gen.model", "m0"),
        *("--gen.max_new_tokens", "6", "--assess.assessor", "math"),
    ]
    assert stat.main(stat_argv) == 0
    final = json.loads((work / "stat_run" / "final.json").read_text())
    assert {d["action"] for d in final["stages"]} == {"reused"}, final["stages"]
    assert [d["stage"] for d in final["stages"]] == ["skills", "labels", "difficult", "missing", "select"]
    assert final["profile"] == {"add": 3, "sub": 3}
