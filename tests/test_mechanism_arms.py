"""The mechanism baselines draw what they claim: STAT-Sel's category counts, inverted weights, error-rate weights, a
second uniform draw. Training is replaced by capturing the rows each arm would train on."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from openrlhf_weakness.experiment import mechanism_arms
from openrlhf_weakness.experiment.config import CompareConfig, ExperimentData
from openrlhf_weakness.experiment.context import ExperimentContext
from openrlhf_weakness.stat.config import StatConfig


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig

    pool = [
        {"prompt": f"{kind} {i}", "reference": "x", "datasource": kind} for kind in ("a", "b", "c") for i in range(100)
    ]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    (tmp_path / "dev.jsonl").write_text(json.dumps(pool[0]) + "\n")
    data = ExperimentData(pool=str(tmp_path / "pool.jsonl"), dev=str(tmp_path / "dev.jsonl"))
    context = ExperimentContext(
        "student", data, CompareConfig(work_dir=str(tmp_path)), None, GenerationConfig(), AssessConfig()
    )
    context.stat = StatConfig(skill_key="datasource")
    draw = [r for r in pool if r["datasource"] == "a"][:30] + [r for r in pool if r["datasource"] == "b"][:10]
    weighted = [dict(r, stat_weight={"a": 3.0, "b": 1.0, "c": 0.0}[r["datasource"]]) for r in pool]
    monkeypatch.setattr(mechanism_arms, "stat_run", lambda ctx, seed, key=None: (draw, weighted))
    monkeypatch.setattr(mechanism_arms, "dev_error_rates", lambda ctx, seed: {"a": 0.0, "b": 0.5, "c": 1.0})
    trained = {}

    def sft(ctx, plan, rows, name, seed, weights=None, total=0, targets=None):
        trained[name] = rows
        return f"model-{name}"

    monkeypatch.setattr(mechanism_arms, "sft", sft)
    return context, trained


def _mix(rows) -> Counter:
    return Counter(r["datasource"] for r in rows)


def test_each_baseline_draws_at_stat_sels_budget_what_it_claims(ctx):
    context, trained = ctx
    mechanism_arms.sft_stratified(context, 0, None)
    assert _mix(trained["sft_stratified"]) == {"a": 30, "b": 10}  # STAT-Sel's counts, rows drawn within category
    assert len({r["prompt"] for r in trained["sft_stratified"]}) > 10
    mechanism_arms.stat_sel_inverted(context, 0, None)
    inverted = _mix(trained["stat_sel_inverted"])
    assert sum(inverted.values()) == 40 and inverted["a"] == 0 and inverted["c"] > inverted["b"]  # weights 0, 2, 3
    mechanism_arms.sft_error_rate(context, 0, None)
    by_rate = _mix(trained["sft_error_rate"])
    assert sum(by_rate.values()) == 40 and by_rate["a"] == 0 and by_rate["c"] > by_rate["b"]  # rates 0, 0.5, 1


def test_the_noise_floor_arm_is_the_same_procedure_drawn_again(ctx, monkeypatch):
    from openrlhf_weakness.experiment import arms

    context, trained = ctx
    monkeypatch.setattr(arms, "sft", lambda ctx, plan, rows, name, seed, **kw: trained.setdefault(name, rows))
    monkeypatch.setattr(arms, "stat_run", lambda ctx, seed, key=None: (list(range(40)), []))
    arms.sft_uniform(context, 0, None)
    mechanism_arms.sft_uniform_redraw(context, 0, None)
    first, second = trained["sft_uniform"], trained["sft_uniform_redraw"]
    assert len(first) == len(second) == 40 and {r["prompt"] for r in first} != {r["prompt"] for r in second}
    monkeypatch.setattr(arms, "_first_pairs", lambda ctx, seed, plan: ("pairs.jsonl", 25))  # APT's first round: 25
    context.data.train = context.data.dev
    arms.sft_same_budget(context, 0, None)
    mechanism_arms.sft_same_budget_redraw(context, 0, None)
    first, second = trained["sft_same_budget"], trained["sft_same_budget_redraw"]
    assert len(first) == len(second) == 25 and {r["prompt"] for r in first} != {r["prompt"] for r in second}


def test_a_trained_arm_is_reused_only_under_the_same_flags_and_data(tmp_path, monkeypatch):
    """An arm's model folder is kept across reruns, but other training flags or other rows train it again (a rerun
    with a new --adam.lr once reused the old models)."""
    from openrlhf_weakness.experiment.arms import train_once
    from openrlhf_weakness.training import TrainingPlan

    runs = []

    def run(self, log_path, launcher=False, hostfile=None, keep_fds=()):  # the training itself: a config.json
        out = tmp_path / self.value("--ckpt.output_dir")
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"lr": self.value("--adam.lr")}))
        runs.append(self.value("--adam.lr"))

    monkeypatch.setattr(TrainingPlan, "run", run)
    data = tmp_path / "rows.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    plan = TrainingPlan.parse("openrlhf.cli.train_sft", ["--adam.lr", "1e-3", "--data.dataset", str(data)])
    ctx = ExperimentContext("student", ExperimentData(), CompareConfig(work_dir=str(tmp_path)), plan, None, None)
    out = tmp_path / "arms" / "sft-s0"
    for _ in range(2):
        train_once(ctx, plan, out)
    assert runs == ["1e-3"]  # the second call reused the model
    train_once(ctx, plan.set(**{"--adam.lr": "3e-4"}), out)
    assert runs == ["1e-3", "3e-4"] and json.loads((out / "config.json").read_text()) == {"lr": "3e-4"}
    data.write_text('{"input": "a", "output": "c"}\n')
    train_once(ctx, plan.set(**{"--adam.lr": "3e-4"}), out)
    assert runs == ["1e-3", "3e-4", "3e-4"] and not out.with_name("sft-s0.tmp").exists()


def test_apt_trained_is_the_first_trained_model_whether_or_not_the_loop_kept_it(ctx, monkeypatch):
    from openrlhf_weakness.experiment import arms
    from openrlhf_weakness.experiment.config import ExperimentError

    context, _ = ctx
    record = {
        "best": {"iteration": 0, "model": "student"},
        "stopped": "finished",
        "history": [{"model": "m1", "dev": 0.4}],
    }
    monkeypatch.setattr(arms, "apt_run", lambda ctx, seed, plan: (record, None))
    assert arms.apt(context, 0, None)[0] == "student"  # the loop kept M_0 ...
    assert arms.apt_trained(context, 0, None) == ("m1", {"kept": False, "dev_in_loop": 0.4})  # ... M_1 is scored here
    record["best"] = {"iteration": 2, "model": "m2"}  # a later iteration kept: M_1 was not
    assert arms.apt_trained(context, 0, None)[1]["kept"] is False
    record["best"] = {"iteration": 1, "model": "m1"}
    assert arms.apt_trained(context, 0, None)[1]["kept"] is True
    record["history"] = []
    with pytest.raises(ExperimentError, match="trained no iteration"):
        arms.apt_trained(context, 0, None)
