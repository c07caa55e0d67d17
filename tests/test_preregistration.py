"""Pre-registration: the runner is refused without the file or with other settings, and the registered comparisons'
goals are checked with the seed-level test on a simulated score table."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from openrlhf_weakness.experiment.preregistration import (
    Goal,
    PreregistrationError,
    check_before_test,
    load_preregistration,
    settings_hash,
    verdicts,
    write_preregistration,
)
from openrlhf_weakness.experiment.seed_stats import compare

SETTINGS = {"setting": "controlled", "seeds": [1, 2, 3, 4, 5], "budget": {"rows": 400, "lr": 1e-5}, "arms": ["apt"]}
METRIC = {"name": "exact_match", "weak_skills": ["rotate"], "weak_skills_rule": "base dev accuracy below 0.4"}
COMPARISONS = [
    {
        "name": "stat_weak",
        "a": "stat_sel",
        "b": "uniform",
        "questions": "weak_skills",
        "goal": {"kind": "at_least", "value": 0.03},
    },
    {"name": "stat_overall", "a": "stat_sel", "b": "uniform", "goal": {"kind": "not_worse", "value": 0.0}},
    {
        "name": "stat_guard",
        "a": "stat_sel",
        "b": "base",
        "fixed": "b",
        "split": "guard",
        "goal": {"kind": "within", "value": 0.02},
    },
]


def register(tmp_path, **changes):
    args = {"settings": SETTINGS, "comparisons": COMPARISONS, "metric": METRIC, "title": "test"}
    args.update(changes)
    path = tmp_path / "prereg.json"
    return path, write_preregistration(
        path, noise_floors=[{"name": "uniform", "a": "uniform", "b": "uniform_2"}], **args
    )


def test_settings_hash_is_stable_and_sensitive():
    same = {"budget": {"lr": 1e-5, "rows": 400}, "arms": ["apt"], "seeds": [1, 2, 3, 4, 5], "setting": "controlled"}
    assert settings_hash(SETTINGS) == settings_hash(same)  # key order does not matter
    canonical = '{"arms":["apt"],"budget":{"lr":1e-05,"rows":400},"seeds":[1,2,3,4,5],"setting":"controlled"}'
    assert settings_hash(SETTINGS) == hashlib.sha256(canonical.encode()).hexdigest()
    assert settings_hash({**SETTINGS, "seeds": [1, 2, 3, 4]}) != settings_hash(SETTINGS)
    assert settings_hash({"x": 1}) != settings_hash({"x": 1.0})
    with pytest.raises(PreregistrationError, match="cannot be hashed"):
        settings_hash({"x": float("nan")})
    with pytest.raises(PreregistrationError, match="cannot be hashed"):
        settings_hash({"x": object()})


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(PreregistrationError, match=r"prereg\.json does not exist: write .* before the test split"):
        check_before_test(tmp_path / "prereg.json", SETTINGS)


def test_matching_settings_pass_and_return_the_file_hash(tmp_path):
    path, written = register(tmp_path)
    got = check_before_test(path, json.loads(json.dumps(SETTINGS)))
    assert got == written == hashlib.sha256(path.read_bytes()).hexdigest()
    prereg = load_preregistration(path)
    assert prereg.settings_hash == settings_hash(SETTINGS) and prereg.weak_skills == ("rotate",)
    assert [c.name for c in prereg.comparisons] == ["stat_weak", "stat_overall", "stat_guard"]
    assert prereg.comparisons[0].goal.kind == "at_least" and prereg.comparisons[2].fixed == "b"
    with pytest.raises(PreregistrationError, match="written once, never rewritten"):
        register(tmp_path)


def test_other_settings_are_refused_naming_what_differs(tmp_path):
    path, _ = register(tmp_path)
    run = {**SETTINGS, "budget": {"rows": 800, "lr": 1e-5}, "extra": True}
    with pytest.raises(PreregistrationError) as err:
        check_before_test(path, run)
    msg = str(err.value)
    assert "does not match the registered" in msg
    assert "budget.rows: registered 400, this run 800" in msg and "extra: True in this run, not registered" in msg
    doc = json.loads(path.read_text())
    del doc["settings"]
    path.write_text(json.dumps(doc))
    with pytest.raises(PreregistrationError, match="records no 'settings'"):
        check_before_test(path, run)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("comparisons"), "field 'comparisons' is missing"),
        (lambda d: d["comparisons"][1].update(questions="weak"), r"comparisons\[1\]\.questions must be one of"),
        (lambda d: d["comparisons"][0]["goal"].update(kind="beats"), r"comparisons\[0\]\.goal\.kind must be one of"),
        (lambda d: d["comparisons"][0].update(goals={}), r"comparisons\[0\]: unknown field 'goals'"),
        (lambda d: d["metric"].pop("weak_skills_rule"), "weak_skills_rule' is missing"),
        (lambda d: d["settings"].update(seeds=[1]), "does not hash to the recorded"),
        (lambda d: d.update(alpha=1.5), "'alpha' must lie in"),
        (lambda d: d["comparisons"].append(dict(d["comparisons"][0])), r"repeated: \['stat_weak'\]"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_and_field(tmp_path, edit, message):
    path, _ = register(tmp_path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PreregistrationError, match=message) as err:
        load_preregistration(path)
    assert str(path) in str(err.value)


def test_invalid_json_is_refused_with_its_line(tmp_path):
    path = tmp_path / "prereg.json"
    path.write_text('{\n  "version": 1,\n  "metric": \n}\n')
    with pytest.raises(PreregistrationError, match=r"prereg\.json is not valid JSON: .* line 4"):
        load_preregistration(path)


def simulated_rows(weak_gain: float, overall_loss: float, seeds=range(1, 6), questions=400, guard_drop=0.0):
    """The long table of a simulated run: ``stat_sel`` gains on the rotate questions, per-seed variance 0.03; on the
    guard each seed keeps the base model's answers but for 5% flipped both ways and ``guard_drop`` lost."""
    rng = np.random.default_rng(0)
    cats = np.array(["rotate" if q % 4 == 0 else "sum" for q in range(questions)])
    p = rng.beta(2, 2, questions)
    base = rng.random(300) < 0.5
    rows = [
        {"split": "guard", "arm": "base", "seed": 0, "question": f"g{q}", "score": float(base[q])} for q in range(300)
    ]
    for arm in ("stat_sel", "uniform", "uniform_2"):
        for s in seeds:
            shift = rng.normal(0, 0.03)
            if arm == "stat_sel":
                shift = shift + np.where(cats == "rotate", weak_gain, -overall_loss)
            right = rng.random(questions) < np.clip(p + shift, 0, 1)
            rows += [
                {
                    "split": "test",
                    "arm": arm,
                    "seed": s,
                    "question": f"t{q}",
                    "category": str(cats[q]),
                    "score": float(right[q]),
                }
                for q in range(questions)
            ]
            if arm == "stat_sel":
                guard = (base ^ (rng.random(300) < 0.05)) & ~(rng.random(300) < 2 * guard_drop)
                rows += [
                    {"split": "guard", "arm": arm, "seed": s, "question": f"g{q}", "score": float(guard[q])}
                    for q in range(300)
                ]
    return rows


def test_goals_are_checked_on_a_simulated_table(tmp_path):
    path, _ = register(tmp_path)
    prereg = load_preregistration(path)
    good = {v.name: v for v in verdicts(prereg, simulated_rows(weak_gain=0.15, overall_loss=0.0))}
    assert list(good) == ["stat_weak", "stat_overall", "stat_guard", "noise floor: uniform"]
    weak = good["stat_weak"]
    assert weak.result.n_questions == 100 and weak.result.n_seeds == 5 and weak.result.verdict == "stat_sel better"
    assert 0.1 < weak.result.mean_diff < 0.2 and weak.goal_met is True
    assert good["stat_overall"].goal_met is True and good["stat_overall"].result.n_questions == 400
    assert good["stat_guard"].result.n_questions == 300 and abs(good["stat_guard"].result.mean_diff) < 0.02
    assert good["stat_guard"].goal_met is True
    floor = good["noise floor: uniform"]
    assert floor.goal is None and floor.result.noise_floor and floor.result.verdict == "no detectable difference"
    assert "goal (A better by at least +0.030): met" in weak.line() and weak.as_dict()["goal_met"] is True

    bad = {v.name: v for v in verdicts(prereg, simulated_rows(weak_gain=0.0, overall_loss=0.12, guard_drop=0.08))}
    assert bad["stat_weak"].goal_met is False
    assert bad["stat_overall"].result.mean_diff < -0.05 and bad["stat_overall"].goal_met is False
    assert bad["stat_guard"].goal_met is False and bad["stat_guard"].result.mean_diff < -0.05


def test_scores_the_registration_cannot_use_are_refused(tmp_path):
    path, _ = register(tmp_path)
    prereg = load_preregistration(path)
    rows = [r for r in simulated_rows(0.1, 0.0) if r["arm"] != "uniform"]
    with pytest.raises(PreregistrationError, match=r"'stat_weak'.*no scores for arm 'uniform'"):
        verdicts(prereg, rows)
    rows = [r for r in simulated_rows(0.1, 0.0) if r["split"] != "guard"]
    with pytest.raises(PreregistrationError, match=r"'stat_guard'.*no scores for split 'guard'"):
        verdicts(prereg, rows)
    rows = [r for r in simulated_rows(0.1, 0.0, seeds=[1]) if r["split"] == "test"]
    with pytest.raises(PreregistrationError, match="at least 2 training seeds"):
        verdicts(prereg, rows)
    path2 = tmp_path / "other.json"
    write_preregistration(
        path2, settings=SETTINGS, comparisons=COMPARISONS[:1], metric={**METRIC, "weak_skills": ["rotat"]}
    )
    with pytest.raises(
        PreregistrationError, match=r"registered weak skills: no question carries the categories \['rotat'\]"
    ):
        verdicts(load_preregistration(path2), simulated_rows(0.1, 0.0))


def test_goal_rules():
    """at_least needs a significant gain of at least v; not_worse fails on a significant loss or a mean below -v;
    within reads the mean difference only."""
    b = np.zeros((3, 100))
    gain = np.zeros((3, 100))
    gain[0, :5], gain[1, :4], gain[2, :6] = 1, 1, 1  # +0.05, +0.04, +0.06 per seed: significant
    wobble_rows = np.zeros((3, 100))
    wobble_rows[0, :3], wobble_rows[2, :1] = 1, 1  # +0.03, 0, +0.01 per seed: not significant
    small, wobble, loss, slip = compare(gain, b), compare(wobble_rows, b), compare(b, gain), compare(b, wobble_rows)
    assert small.verdict == "A better" and loss.verdict == "B better"
    assert wobble.verdict == slip.verdict == "no detectable difference"
    assert Goal("at_least", 0.03).met(small) and not Goal("at_least", 0.06).met(small)
    assert not Goal("at_least", 0.01).met(wobble)  # +0.013 but not significant
    assert Goal("not_worse", 0.0).met(wobble) and Goal("not_worse", 0.0).met(small)
    assert not Goal("not_worse", 0.1).met(loss)  # a significant loss fails whatever the margin
    assert not Goal("not_worse", 0.0).met(slip) and Goal("not_worse", 0.02).met(slip)  # -0.013: within 0.02 only
    assert Goal("within", 0.02).met(wobble) and not Goal("within", 0.02).met(loss)
