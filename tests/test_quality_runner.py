"""The quality runner's bookkeeping (benchmarks/quality.py) on planted scores: a failing arm is reported with its log
while the others finish, a rerun resumes finished arms and retries failed ones, and the summary finds a planted
difference. Training is replaced by planted per-question scores here; the engines it calls are tested elsewhere."""

import importlib.util
import json
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def quality():
    spec = importlib.util.spec_from_file_location("quality_runner", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def planted_experiment(quality, tmp_path, n=400):
    """An Experiment without a student: rows of two skills, and per-arm accuracies planted per question."""
    exp = object.__new__(quality.Experiment)
    exp.work, exp.splits = tmp_path, ("dev", "guard", "test")
    exp.opts = Namespace(
        setting="controlled",
        lr=3e-4,
        epochs=3,
        iterations=1,
        sft_coef=3.0,
        retrieve_scale=8,
        stat_rows=720,
        stat_k=5,
        chosen="reference",
        rejected="greedy",
        samples=0,
        beta=0.1,
        sft_norm="token",
        param_dtype="fp32",
    )
    exp.rows = {split: [{"datasource": ("rotate", "copy")[i % 2]} for i in range(n)] for split in exp.splits}
    for folder in ("results", "arms"):
        (tmp_path / folder).mkdir()
    rate = {"base": 0.5, "apt": 0.7, "sft_same_budget": 0.5}
    rng = np.random.default_rng(0)
    exp.score = lambda model, splits: {s: (rng.random(n) < rate[model]).astype(float).tolist() for s in splits}
    return exp


def test_a_failed_arm_is_reported_with_its_log_and_the_others_finish_then_a_rerun_resumes(quality, tmp_path):
    exp = planted_experiment(quality, tmp_path)
    calls = []

    def arm_model(arm, seed):
        calls.append((arm, seed))
        if arm == "dpo_only":
            raise RuntimeError("no pairs: the pair set is empty")
        return arm, {"rows": 10}

    exp.arm_model = arm_model
    base = {"arm": "base", "seed": 0, "status": "done", "scores": exp.score("base", exp.splits)}
    results = [exp.run_arm(arm, seed) for seed in range(3) for arm in ("apt", "sft_same_budget", "dpo_only")]
    failed = [r for r in results if r["status"] == "failed"]
    assert [r["seed"] for r in failed] == [0, 1, 2] and {r["arm"] for r in failed} == {"dpo_only"}
    assert "the pair set is empty" in failed[0]["error"]
    assert "RuntimeError" in Path(failed[0]["log"]).read_text()  # the traceback, for the user to read

    summary = quality.summarize(exp, base, results)
    table = quality.markdown(summary)
    assert (
        f"| dpo_only | seed 0 FAILED | RuntimeError: no pairs: the pair set is empty (log: {failed[0]['log']})"
        in table
    )
    assert set(summary["arms"]) == {"base", "apt", "sft_same_budget"}
    apt_vs_sft = summary["comparisons"]["apt_vs_sft"]
    assert apt_vs_sft["ci_low"] > 0.1 and apt_vs_sft["verdict"] == "better"  # planted +0.2 on 400 x 3
    assert (
        summary["comparisons"]["sft_same_budget_vs_base"]["ci_low"]
        < 0
        < summary["comparisons"]["sft_same_budget_vs_base"]["ci_high"]
    )

    calls.clear()
    again = [exp.run_arm(arm, seed) for seed in range(3) for arm in ("apt", "sft_same_budget", "dpo_only")]
    assert calls == [("dpo_only", 0), ("dpo_only", 1), ("dpo_only", 2)]  # finished arms are read back, not rerun
    assert [r["scores"] for r in again if r["arm"] == "apt"] == [r["scores"] for r in results if r["arm"] == "apt"]
    assert json.loads((tmp_path / "results" / "apt-s0.json").read_text())["status"] == "done"


def test_unknown_arms_are_refused_before_any_work(quality, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["quality.py", "--arms", "apt,stat_sel_samplr"])
    with pytest.raises(SystemExit) as exit_info:
        quality.main()
    assert exit_info.value.code == 2
    assert "unknown arm(s) stat_sel_samplr" in capsys.readouterr().err


def test_stat_top_skills_are_matched_in_the_profile_spelling_and_by_sub_skill(quality, tmp_path):
    """A profile names 'basic arithmetic' (normalised) and sub-skills such as 'negatives'; the rows say
    'basic_arithmetic' and carry the expression: the top-skill comparison must find those rows."""
    exp = planted_experiment(quality, tmp_path, n=300)
    exp.opts.setting = "real"

    def row(i):
        name, expression = ("basic_arithmetic", f"-{i % 9} - 4") if i % 3 else ("products", f"{i % 9} * 7")
        label = {"answer": "0", "metadata": {"expression": expression}}
        return {"datasource": name, "reference": json.dumps(label)}

    exp.rows = {split: [row(i) for i in range(300)] for split in exp.splits}
    better = [1.0 if i % 3 else 0.0 for i in range(300)]  # right on every basic_arithmetic row, wrong on products
    worse = [1.0 if i % 6 == 1 else 0.0 for i in range(300)]
    scores = {"stat_sel": better, "stat_sel_subskills": better, "sft_uniform": worse}
    tops = {"stat_sel": ["basic arithmetic"], "stat_sel_subskills": ["negatives"], "sft_uniform": None}
    results = [
        {
            "arm": arm,
            "seed": seed,
            "status": "done",
            "top_skills": tops[arm],
            "scores": {s: scores[arm] for s in exp.splits},
        }
        for seed in range(2)
        for arm in scores
    ]
    base = {"arm": "base", "seed": 0, "status": "done", "scores": {s: worse for s in exp.splits}}
    summary = quality.summarize(exp, base, results)
    for name, arm in (("stat_sel_vs_uniform", "stat_sel"), ("stat_sel_subskills_vs_uniform", "stat_sel_subskills")):
        top = summary["comparisons"][name]["top_skills"]
        assert top["skills"] == tops[arm]
        assert top["mean"] == pytest.approx(0.75)  # on the 200 basic_arithmetic rows: 1.0 against 0.25
    assert summary["arms"]["stat_sel"]["by_skill"]["products"]["mean"] == 0.0


def test_a_dev_summary_compares_on_dev_and_says_so(quality, tmp_path):
    exp = planted_experiment(quality, tmp_path)
    exp.splits = ("dev", "guard")
    exp.rows.pop("test")
    exp.arm_model = lambda arm, seed: (arm, {})
    base = {"arm": "base", "seed": 0, "status": "done", "scores": exp.score("base", exp.splits)}
    results = [exp.run_arm(arm, seed) for seed in range(2) for arm in ("apt", "sft_same_budget")]
    summary = quality.summarize(exp, base, results, split="dev")
    assert summary["split"] == "dev" and summary["comparisons"]["apt_vs_sft"]["verdict"] == "better"
    assert quality.markdown(summary).startswith("Dev: 400 questions") and "| dev difference |" in quality.markdown(
        summary
    )
