"""The experiment library's bookkeeping on planted scores: a failing arm is reported with its log while the others
finish, a rerun resumes finished cells and retries failed ones, the summary finds a planted difference, STAT's top
skills are matched by sub-skill, a dev summary says so, and benchmarks/quality.py is a thin call of cli.compare.
Training is replaced by planted per-question scores here; the engines are tested elsewhere."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from openrlhf_weakness.experiment.arms import parse_arms
from openrlhf_weakness.experiment.cells import run_cell
from openrlhf_weakness.experiment.config import CompareConfig, ExperimentData, ExperimentError
from openrlhf_weakness.experiment.context import ExperimentContext
from openrlhf_weakness.experiment.summary import markdown, summarize

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("dev", "guard", "test")


def planted(tmp_path, n=400, splits=SPLITS):
    """A context over planted rows of two skills, and a scorer giving each arm its planted accuracy per question."""
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig

    data = ExperimentData(**{s: str(tmp_path / f"{s}.jsonl") for s in splits})
    ctx = ExperimentContext(
        "student", data, CompareConfig(work_dir=str(tmp_path)), None, GenerationConfig(), AssessConfig()
    )
    rows = {
        split: [{"prompt": str(i), "reference": "x", "datasource": ("rotate", "copy")[i % 2]} for i in range(n)]
        for split in splits
    }
    for split in splits:
        Path(getattr(data, split)).write_text("".join(json.dumps(r) + "\n" for r in rows[split]))
    rate = {"student": 0.5, "apt": 0.7, "sft_same_budget": 0.5}
    rng = np.random.default_rng(0)

    def score(ctx, model, wanted):
        return {s: (rng.random(n) < rate[model]).astype(float).tolist() for s in wanted}

    return ctx, rows, score


def test_a_failed_arm_is_reported_with_its_log_and_the_others_finish_then_a_rerun_resumes(tmp_path):
    ctx, rows, score = planted(tmp_path)
    calls = []

    def produce(arm, seed):
        def run():
            calls.append((arm, seed))
            if arm == "dpo_only":
                raise RuntimeError("no pairs: the pair set is empty")
            return arm, {"rows": 10}

        return run

    base = run_cell(ctx, "base", 0, lambda: ("student", {}), score)
    cells = [(arm, seed) for seed in range(3) for arm in ("apt", "sft_same_budget", "dpo_only")]
    results = [run_cell(ctx, arm, seed, produce(arm, seed), score) for arm, seed in cells]
    failed = [r for r in results if r["status"] == "failed"]
    assert [r["seed"] for r in failed] == [0, 1, 2] and {r["arm"] for r in failed} == {"dpo_only"}
    assert "the pair set is empty" in failed[0]["error"] and "the pair set is empty" in failed[0]["tail"]
    assert "RuntimeError" in Path(failed[0]["log"]).read_text()  # the traceback, for the user to read

    summary = summarize(rows, base, results)
    table = markdown(summary)
    assert (
        f"| dpo_only | seed 0 FAILED | RuntimeError: no pairs: the pair set is empty (log: {failed[0]['log']})"
        in table
    )
    assert set(summary["arms"]) == {"base", "apt", "sft_same_budget"}
    apt_vs_sft = summary["comparisons"]["apt_vs_sft"]
    # planted +0.2 on 400 questions x 3 seeds: the seed-level t interval (2 df) excludes 0
    assert apt_vs_sft["ci_low"] > 0.05 and apt_vs_sft["p"] < 0.05 and apt_vs_sft["verdict"] == "better"
    assert apt_vs_sft["question_ci"][0] > 0.1 and len(apt_vs_sft["seed_diffs"]) == 3
    vs_base = summary["comparisons"]["sft_same_budget_vs_base"]
    assert vs_base["ci_low"] < 0 < vs_base["ci_high"]

    calls.clear()
    again = [run_cell(ctx, arm, seed, produce(arm, seed), score) for arm, seed in cells]
    assert calls == [("dpo_only", 0), ("dpo_only", 1), ("dpo_only", 2)]  # finished cells are read back, not rerun
    assert [r["scores"] for r in again if r["arm"] == "apt"] == [r["scores"] for r in results if r["arm"] == "apt"]
    assert json.loads((tmp_path / "results" / "apt-s0.json").read_text())["status"] == "done"


def test_unknown_arms_are_refused():
    with pytest.raises(ExperimentError, match="unknown arm\\(s\\) stat_sel_samplr"):
        parse_arms("apt,stat_sel_samplr")
    assert parse_arms("apt, sft_same_budget,base,apt") == ["apt", "sft_same_budget"]


def test_stat_top_skills_are_matched_in_the_profile_spelling_and_by_sub_skill():
    """A profile names 'basic arithmetic' (normalised) and sub-skills such as 'negatives'; the rows say
    'basic_arithmetic' and carry the expression: the top-skill comparison must find those rows."""

    def row(i):
        name, expression = ("basic_arithmetic", f"-{i % 9} - 4") if i % 3 else ("products", f"{i % 9} * 7")
        label = {"answer": "0", "metadata": {"expression": expression}}
        return {"datasource": name, "reference": json.dumps(label)}

    rows = {split: [row(i) for i in range(300)] for split in SPLITS}
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
            "scores": {s: scores[arm] for s in SPLITS},
        }
        for seed in range(2)
        for arm in scores
    ]
    base = {"arm": "base", "seed": 0, "status": "done", "scores": {s: worse for s in SPLITS}}
    summary = summarize(rows, base, results, setting="real")
    for name, arm in (("stat_sel_vs_uniform", "stat_sel"), ("stat_sel_subskills_vs_uniform", "stat_sel_subskills")):
        top = summary["comparisons"][name]["top_skills"]
        assert top["skills"] == tops[arm]
        assert top["mean"] == pytest.approx(0.75)  # on the 200 basic_arithmetic rows: 1.0 against 0.25
    assert summary["arms"]["stat_sel"]["by_skill"]["products"]["mean"] == 0.0


def test_a_dev_summary_compares_on_dev_and_says_so(tmp_path):
    ctx, rows, score = planted(tmp_path, splits=("dev", "guard"))
    base = run_cell(ctx, "base", 0, lambda: ("student", {}), score)
    results = [
        run_cell(ctx, arm, seed, lambda arm=arm: (arm, {}), score)
        for seed in range(4)
        for arm in ("apt", "sft_same_budget")
    ]
    summary = summarize(rows, base, results, split="dev")
    assert summary["split"] == "dev" and summary["comparisons"]["apt_vs_sft"]["verdict"] == "better"
    table = markdown(summary)
    assert table.startswith("Exploratory: no pre-registration.\n\nDev: 400 questions")
    assert "| dev difference [t interval] |" in table


def test_quality_script_is_a_thin_call_of_compare():
    spec = importlib.util.spec_from_file_location("quality_runner", ROOT / "benchmarks" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    opts = quality.build_parser().parse_args(
        ["--setting", "real", "--seeds", "3", "--lr", "1e-5", "--stat_rows", "720"]
    )
    argv = quality.compare_argv(opts)
    cut = argv.index("--")
    assert argv[:4] == ["--compare.preset", "real", "--compare.work_dir", "runs/quality_real"]
    assert argv[argv.index("--compare.seeds") + 1] == "3" and argv[argv.index("--stat.size") + 1] == "720"
    assert argv[cut + 1 :] == ["--adam.lr", "1e-5"]  # a training flag, shared by every arm
    assert "--compare.out" in argv and "benchmarks/results/quality_real.json" in argv
