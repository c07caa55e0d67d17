"""STAT's core: skill names, teacher parsers, the profile and STAT-Sel weights, the builder and the sampler."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openrlhf_weakness.stat.profile import (
    SkillMap,
    draw_from_weights,
    missing_skill_profile,
    per_pair_draw,
    sel_weights,
)
from openrlhf_weakness.stat.sampler import SkillWeightedSampler
from openrlhf_weakness.stat.skills import SkillList
from openrlhf_weakness.stat.teacher import parse_labels, parse_missing, parse_questions, parse_skill_list

SKILLS = SkillList(["Fractions", "linear_equations", "Prime factorization", "geometry"])


def test_skill_names_normalise_and_fuzzy_match_and_drop_unknown():
    skills = SkillList(["Fractions", "linear_equations", "Prime factorization", "geometry"])
    assert skills.resolve(["FRACTIONS", "Linear-Equations", "prime  factorisation", "astrology", "geometry"]) == [
        "fractions",
        "linear equations",
        "prime factorization",
        "geometry",
    ]
    assert skills.dropped == {"astrology": 1}
    assert SkillList(["a b", "A_B", "c"]).duplicates == 1
    with pytest.raises(ValueError, match="entry 2 is an empty skill name"):
        SkillList(["a", "  "])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<skill>fractions, Geometry</skill><reason>...</reason>", ["fractions", "geometry"]),
        (
            "<skill>fractions, astrology, linear equations, geometry, prime factorization</skill>",
            ["fractions", "linear equations", "geometry"],
        ),  # max 3 here; unknown dropped
        ("This needs fractions and some geometry.", ["fractions", "geometry"]),  # no tags: names found in prose
        ("<skill>fractions", ["fractions"]),  # unclosed tag
        ("", []),
    ],
)
def test_parse_labels(text, expected):
    assert parse_labels(text, SKILLS, max_skills=3) == expected


def test_parse_missing_verdicts_and_skills():
    assert parse_missing("<judge>incorrect</judge><reason>x</reason><skill>Fractions</skill>", SKILLS) == (
        "incorrect",
        ["fractions"],
    )
    assert parse_missing("<judge>Correct</judge><reason>fine</reason><skill></skill>", SKILLS) == ("correct", [])
    assert parse_missing("The student lacks geometry.", SKILLS) == ("unknown", ["geometry"])
    assert parse_missing("", SKILLS) == ("unknown", [])


def test_parse_skill_list_and_questions():
    assert parse_skill_list("<skill>Fractions</skill>\n<skill>Geometry</skill>") == ["Fractions", "Geometry"]
    assert parse_skill_list("1. Fractions\n- Geometry\n\n") == ["Fractions", "Geometry"]
    text = "<reason>r</reason><draft>d</draft><question>What is 1/2 + 1/3?</question><question>Q2</question>"
    assert parse_questions(text) == ["What is 1/2 + 1/3?", "Q2"]


def _map():
    labels = [["a"], ["a", "b"], ["b"], ["c"], [], ["b", "c"]]
    return SkillMap.from_labels(labels, names=["a", "b", "c", "d"]), labels


def test_weights_equal_the_hand_computation_and_report_drops():
    skill_map, _ = _map()
    profile = missing_skill_profile([["a", "b"], ["b"], ["b", "ghost"]])
    assert profile == {"a": 1, "b": 3, "ghost": 1}
    weights, report = sel_weights(skill_map, profile, k=2)
    # |map| a=2, b=3, c=2; per-skill a: 1*2/2 = 1, b: 3*2/3 = 2, c: 0
    assert weights.tolist() == [1.0, 3.0, 2.0, 0.0, 0.0, 2.0]
    assert report["profile_skills_not_in_map"] == ["ghost"] and report["map_skills_without_examples"] == ["d"]
    assert report["examples_without_skills"] == 1 and report["examples_with_zero_weight"] == 2
    with pytest.raises(ValueError, match="every STAT-Sel weight would be 0"):
        sel_weights(skill_map, {"ghost": 3, "d": 1}, k=5)


def test_builder_and_weights_give_the_same_distribution():
    skill_map, _ = _map()
    missing = [["a", "b"], ["b"], ["b", "c"]] * 400
    drawn = np.bincount(per_pair_draw(skill_map, missing, k=5, seed=1), minlength=6)
    weights, _ = sel_weights(skill_map, missing_skill_profile(missing), k=5)
    expected = weights / weights.sum()
    freq = drawn / drawn.sum()
    se = np.sqrt(expected * (1 - expected) / drawn.sum())
    assert np.all(np.abs(freq - expected) <= 4 * se + 1e-12), (freq, expected)  # 4 standard errors
    materialised = np.bincount(draw_from_weights(weights, 60_000, seed=2), minlength=6) / 60_000
    assert np.all(np.abs(materialised - expected) <= 4 * np.sqrt(expected * (1 - expected) / 60_000) + 1e-12)


class _Data:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_sampler_frequencies_match_weights():
    weights = np.array([1, 2, 3, 0, 4, 10], dtype=float)
    sampler = SkillWeightedSampler(_Data(6), weights, total=120_000, seed=3)
    counts = np.bincount(list(sampler), minlength=6)
    expected = weights / weights.sum()
    se = np.sqrt(expected * (1 - expected) / 120_000)
    assert counts[3] == 0 and np.all(np.abs(counts / 120_000 - expected) <= 4 * se + 1e-12)


def test_sampler_shards_are_disjoint_cover_the_draw_and_resume():
    weights = np.random.default_rng(0).random(50)
    shards = [
        list(SkillWeightedSampler(_Data(50), weights, num_replicas=3, rank=r, seed=7, total=300)) for r in range(3)
    ]
    full = SkillWeightedSampler(_Data(50), weights, num_replicas=3, rank=0, seed=7, total=300).draw().tolist()
    assert [len(s) for s in shards] == [100, 100, 100]
    for r in range(3):  # rank r holds positions r, r + 3, ... of the one draw: disjoint, and together all of it
        assert shards[r] == full[r::3]
    resumed = SkillWeightedSampler(_Data(50), weights, num_replicas=3, rank=1, seed=7, total=300, consumed_samples=60)
    assert list(resumed) == shards[1][20:] and len(resumed) == 80
    resumed.set_epoch(1)
    assert list(resumed) != shards[1] and len(list(resumed)) == 100


def test_sampler_refuses_bad_weights():
    for bad in ([0, 0, 0], [1, -1, 1], [1, float("nan"), 1]):
        with pytest.raises(ValueError):
            SkillWeightedSampler(_Data(3), bad)
    with pytest.raises(ValueError, match="2 weights for a dataset of 3"):
        SkillWeightedSampler(_Data(3), [1, 1])


def test_skill_map_members_and_large_sizes_are_fast():
    import time

    rng = np.random.default_rng(0)
    labels = [[f"s{j}" for j in rng.choice(120, size=rng.integers(0, 6), replace=False)] for _ in range(100_000)]
    start = time.perf_counter()
    skill_map = SkillMap.from_labels(labels)
    weights, _ = sel_weights(skill_map, missing_skill_profile([["s1", "s2"], ["s3"]] * 50), k=5)
    assert time.perf_counter() - start < 10 and weights.shape == (100_000,)
    assert set(skill_map.members("s1").tolist()) == {i for i, row in enumerate(labels) if "s1" in row}
    assert torch.as_tensor(weights).gt(0).sum() == sum(1 for row in labels if {"s1", "s2", "s3"} & set(row))


@pytest.mark.parametrize(
    "expression, labels",
    [
        ("5 - 3", ["op:sub", "terms:2", "digits:1"]),
        ("2 - -1", ["op:sub", "terms:2", "digits:1", "negatives"]),
        ("47 + 38", ["op:add", "terms:2", "digits:2", "carry"]),
        ("41 + 38", ["op:add", "terms:2", "digits:2"]),
        ("52 - 38", ["op:sub", "terms:2", "digits:2", "borrow"]),
        ("58 - 32", ["op:sub", "terms:2", "digits:2"]),
        ("4 - 1 - 7", ["op:sub", "terms:3", "digits:1", "negatives"]),
        ("95 + 3 + 2", ["op:add", "terms:3", "digits:2", "carry"]),
        ("3 + 4 * 2", ["op:add", "op:mul", "terms:3", "digits:1"]),
        ("3 - 4 * 2", ["op:mul", "op:sub", "terms:3", "digits:1", "negatives"]),
        ("18271 * 43432", ["op:mul", "terms:2", "digits:5"]),
        ("-( 32 - -75 )", ["op:sub", "terms:2", "digits:2", "negatives"]),
        ("( 12 + 9 ) * 3", ["op:add", "op:mul", "terms:3", "digits:2"]),
        ("x + 1", []),
        ("7", []),
        ("1 ^ 2", []),
        ("( 1 + 2", []),
    ],
)
def test_arithmetic_subskills_on_known_questions(expression, labels):
    from openrlhf_weakness.stat.subskills import arithmetic_subskills

    assert arithmetic_subskills(expression) == labels


def test_reasoning_gym_rows_get_their_generator_and_subskills():
    import reasoning_gym

    from openrlhf_weakness.stat.subskills import reasoning_gym_skills

    entry = next(iter(reasoning_gym.create_dataset("chain_sum", size=1, seed=3, min_terms=2, max_terms=2)))
    reference = json.dumps({"answer": entry["answer"], "datasource": "chain_sum", "metadata": entry["metadata"]})
    skills = reasoning_gym_skills(reference)
    assert skills[0] == "chain_sum" and "terms:2" in skills
    a, op, b = entry["metadata"]["expression"].split()
    assert ("carry" in skills) == (
        op == "+"
        and int(a) >= 0
        and int(b) >= 0
        and any(int(x) + int(y) >= 10 for x, y in zip(a.zfill(9)[::-1], b.zfill(9)[::-1]))
    )
