"""The experiment's statistics on planted data: a known difference is found, no difference gives an interval at 0."""

from __future__ import annotations

import numpy as np
import pytest

from openrlhf_weakness.experiment.stats import mean_ci, paired_difference, verdict


def test_a_planted_difference_is_found_and_its_size_is_in_the_interval():
    rng = np.random.default_rng(1)
    base = (rng.random(2000) < 0.5).astype(float)
    better = np.stack([np.where(rng.random(2000) < 0.2, 1.0, base) for _ in range(3)])  # about +0.1 per seed
    diff = paired_difference(better, base)
    assert 0.07 < diff.mean < 0.13 and diff.ci_low > 0.05 and diff.ci_low < diff.mean < diff.ci_high
    assert verdict(diff) == "better" and verdict(paired_difference(base, better)) == "worse"


def test_no_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(2)
    a = (rng.random((3, 1500)) < 0.4).astype(float)
    b = (rng.random((3, 1500)) < 0.4).astype(float)
    diff = paired_difference(a, b)
    assert diff.ci_low < 0 < diff.ci_high and diff.ci_high - diff.ci_low < 0.08
    assert verdict(diff) == "no measurable difference"


def test_mean_interval_covers_the_true_rate_and_narrows_with_more_questions():
    rng = np.random.default_rng(3)
    small, large = mean_ci(rng.random((3, 100)) < 0.3), mean_ci(rng.random((3, 3000)) < 0.3)
    assert small.ci_low < 0.3 < small.ci_high and large.ci_low < 0.3 < large.ci_high
    assert large.ci_high - large.ci_low < (small.ci_high - small.ci_low) / 3


def test_pairing_removes_shared_question_difficulty():
    """Two arms that differ on exactly 5% of questions: the paired interval is far narrower than either mean's."""
    rng = np.random.default_rng(4)
    shared = (rng.random(1000) < 0.5).astype(float)
    a = shared.copy()
    a[:50] = 1.0 - a[:50]
    diff = paired_difference(a, shared)
    single = mean_ci(a)
    assert diff.ci_high - diff.ci_low < (single.ci_high - single.ci_low) / 2


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="different question sets"):
        paired_difference(np.ones((2, 10)), np.ones((2, 11)))
    with pytest.raises(ValueError, match="has 2 seeds"):
        paired_difference(np.ones((3, 10)), np.ones((2, 10)))
