"""The experiment's statistics on planted data: the bootstrap intervals, and the seed-level test on simulated nulls
and planted effects with seed-to-seed variance (its false-positive rate, its power, and the old interval's failure)."""

from __future__ import annotations

import numpy as np
import pytest

from openrlhf_weakness.experiment.seed_stats import (
    NO_DIFFERENCE,
    NO_SPREAD,
    StatsError,
    category_mask,
    compare,
    noise_floor,
    scores_from_rows,
    t_quantile,
    t_two_sided_p,
)
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


# --- the seed-level test (experiment.seed_stats) on simulated experiments with planted seed-to-seed variance ---

SIMS, QUESTIONS, SEED_SD = 1000, 500, 0.045


def simulate(n_seeds: int, effect: float = 0.0, seed: int = 0, shared_seed_sd: float = 0.0):
    """``SIMS`` experiments, arms A and B as [sim][seed][question] of 1/0.

    Question difficulty is shared by both arms (drawn once per experiment); each trained seed of each arm moves its
    accuracy by its own N(0, SEED_SD) (with the binomial noise of 500 questions a seed's accuracy varies by about 0.048);
    ``shared_seed_sd`` adds a part that seed i of A and seed i of B share (same data seed); A gains ``effect``.
    """
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 1.2, (SIMS, 1, QUESTIONS))
    shared = rng.normal(0, shared_seed_sd, (SIMS, n_seeds, 1)) if shared_seed_sd else 0.0
    arms = []
    for gain in (effect, 0.0):
        shift = rng.normal(0, SEED_SD, (SIMS, n_seeds, 1)) + shared + gain
        arms.append((rng.random((SIMS, n_seeds, QUESTIONS)) < np.clip(p + shift, 0, 1)).astype(np.float64))
    return arms


def rate(flags) -> float:
    return float(np.mean(list(flags)))


@pytest.mark.parametrize("n_seeds", [3, 10])
def test_seed_level_test_holds_its_false_positive_rate_where_the_question_bootstrap_does_not(n_seeds):
    """1,000 null experiments: the per-seed t test calls a difference 3-7% of the time at alpha 0.05; the question
    bootstrap beside it (seed variance ignored) calls one far more often, so this test would catch a verdict built on it.
    """
    a, b = simulate(n_seeds, seed=n_seeds)
    results = [compare(a[i], b[i], boot=200, seed=i) for i in range(SIMS)]
    fpr = rate(r.verdict != NO_DIFFERENCE for r in results)
    question_fpr = rate(not r.question_interval.ci_low < 0 < r.question_interval.ci_high for r in results)
    assert 0.03 <= fpr <= 0.07, fpr
    assert question_fpr > 0.25, question_fpr
    assert all(r.n_seeds == n_seeds and len(r.seed_diffs) == n_seeds for r in results)
    # the t interval and the p value tell the same story
    assert all((r.p_value < 0.05) == (not r.t_low <= 0 <= r.t_high) for r in results)


def test_the_old_seed_and_question_bootstrap_is_over_confident_with_three_seeds():
    a, b = simulate(3, seed=33)
    old = rate(
        not e.ci_low < 0 < e.ci_high for e in (paired_difference(a[i], b[i], boot=200, seed=i) for i in range(SIMS))
    )
    assert old > 0.09, old  # measured 0.10-0.12 here; the seed-level test on the same kind of sims stays near 0.05


def test_a_planted_effect_of_five_points_is_found_with_the_stated_power():
    """+0.05 with 10 seeds per arm: power 0.56 (noncentral t, df 9, noncentrality 0.05 / (0.067 / sqrt(10)) = 2.36,
    the per-seed difference's SD being 0.067 in these sims; 0.553 simulated here); asserted with a margin of 0.07
    (about 4 simulation SEs). At the same seed variance +0.03 has power 0.25 with 10 seeds; 80% needs about 15 seeds
    for +0.05 and 40 for +0.03.
    """
    a, b = simulate(10, effect=0.05, seed=7)
    results = [compare(a[i], b[i], names=("stat", "uniform"), boot=200, seed=i) for i in range(SIMS)]
    power = rate(r.verdict == "stat better" for r in results)
    assert power >= 0.55 - 0.07, power
    assert rate(r.verdict == "uniform better" for r in results) <= 0.005
    assert abs(np.mean([r.mean_diff for r in results]) - 0.05) < 0.005


def test_pairing_by_seed_removes_a_shared_seed_effect():
    """Seed i of both arms shares a large effect (same data seed): paired by seed it cancels, shuffled it does not."""
    a, b = simulate(5, effect=0.03, seed=11, shared_seed_sd=0.1)
    a, b = a[:200], b[:200]
    paired = rate(compare(a[i], b[i], boot=50).verdict == "A better" for i in range(200))
    shuffled = rate(compare(a[i], b[i][::-1], boot=50).verdict == "A better" for i in range(200))
    assert paired > shuffled + 0.1, (paired, shuffled)


def test_t_distribution_matches_known_values():
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.975, 9) == pytest.approx(2.262157, abs=1e-6)
    assert t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-6)
    assert t_two_sided_p(2.262157, 9) == pytest.approx(0.05, abs=1e-6)
    assert t_two_sided_p(0.0, 4) == pytest.approx(1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 9, 20, 51):
        for t in (0.3, 1.5, 2.7, 6.0):
            assert t_two_sided_p(t, df) == pytest.approx(2 * scipy_stats.t.sf(t, df), abs=1e-10)
        assert t_quantile(0.95, df) == pytest.approx(scipy_stats.t.ppf(0.95, df), abs=1e-8)


def test_compare_reports_the_per_seed_numbers():
    a = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=float)  # seed means 0.5, 0.75, 0.25
    b = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=float)  # 0.25, 0.5, 0.0
    r = compare(a, b, names=("apt", "sft"))
    assert r.seed_diffs == (0.25, 0.25, 0.25) and r.mean_diff == 0.25
    # no spread at all: nothing to test against, said so (it was p = 0, "better", on two coincident seeds)
    assert r.p_value is None and r.t_low == r.t_high == 0.25 and r.verdict == NO_SPREAD and "p = n/a" in r.line()
    b2 = b.copy()
    b2[0, 1] = 1  # seed diffs 0, 0.25, 0.25
    r = compare(a, b2)
    t = (0.5 / 3) / (np.std([0, 0.25, 0.25], ddof=1) / np.sqrt(3))
    assert r.p_value == pytest.approx(t_two_sided_p(t, 2)) and r.p_value > 0.05 and r.verdict == NO_DIFFERENCE
    half = t_quantile(0.975, 2) * np.std([0, 0.25, 0.25], ddof=1) / np.sqrt(3)
    assert (r.t_low, r.t_high) == pytest.approx((0.5 / 3 - half, 0.5 / 3 + half))
    assert r.question_interval.mean == pytest.approx(r.mean_diff)
    assert "p = " in r.line() and r.as_dict()["seed_diffs"] == [0.0, 0.25, 0.25]
    low, high = np.zeros((5, 4)), np.ones((5, 4))
    high[0, 0] = high[1, 1] = 0  # low - high per seed: -0.75, -0.75, -1, -1, -1
    assert compare(low, high, names=("apt", "sft")).verdict == "sft better"


def test_seeds_given_as_mappings_are_paired_by_key_and_unpaired_seeds_are_refused():
    rng = np.random.default_rng(5)
    a = {s: (rng.random(50) < 0.6).astype(float) for s in (1, 2, 3)}
    b = {s: (rng.random(50) < 0.5).astype(float) for s in (3, 1, 2)}
    as_rows = compare(np.stack([a[s] for s in (1, 2, 3)]), np.stack([b[s] for s in (1, 2, 3)]))
    assert compare(a, b).seed_diffs == as_rows.seed_diffs
    with pytest.raises(StatsError, match=r"only A has \[1\], only B has \[4\]"):
        compare(a, {4: b[1], 2: b[2], 3: b[3]})
    with pytest.raises(StatsError, match="A has 3 seeds and B 2"):
        compare(np.ones((3, 10)), np.ones((2, 10)))


def test_fewer_than_two_seeds_and_bad_inputs_are_refused():
    with pytest.raises(StatsError, match="at least 2 training seeds"):
        compare(np.ones((1, 10)), np.zeros((1, 10)))
    with pytest.raises(StatsError, match="different question sets"):
        compare(np.ones((2, 10)), np.ones((2, 11)))
    with pytest.raises(StatsError, match="NaN"):
        compare(np.full((2, 3), np.nan), np.ones((2, 3)))
    with pytest.raises(StatsError, match="fixed"):
        compare(np.ones((2, 3)), np.ones((2, 3)), fixed="b")
    with pytest.raises(StatsError, match="selects no questions"):
        compare(np.ones((2, 3)), np.ones((2, 3)), keep=np.zeros(3, dtype=bool))


def test_an_untrained_arm_is_compared_with_every_seed_when_marked_fixed():
    base = np.array([1, 0, 0, 0], dtype=float)
    trained = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=float)
    r = compare(trained, base, fixed="b")
    assert r.seed_diffs == (0.25, 0.5, 0.25) and r.n_seeds == 3


def test_a_subset_of_questions_by_category():
    cats = ["rotate", "sort", {"sort", "sum"}, "sum"]
    assert category_mask(cats, ["sort"]).tolist() == [False, True, True, False]
    with pytest.raises(StatsError, match=r"\['sotr'\]"):
        category_mask(cats, ["sotr"])
    a = np.array([[1, 1, 1, 0], [0, 1, 1, 0]], dtype=float)
    b = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=float)
    weak = compare(a, b, keep=category_mask(cats, ["sort"]))
    assert weak.n_questions == 2 and weak.seed_diffs == (1.0, 0.5)
    assert compare(a, b, keep=[1, 2]).seed_diffs == weak.seed_diffs


def test_noise_floor_compares_two_draws_of_one_procedure():
    a, b = simulate(10, seed=21)
    pairs = [noise_floor(a[i], b[i], name="uniform", boot=50) for i in range(200)]
    assert all(p.noise_floor and p.a == "uniform (1)" and p.b == "uniform (2)" for p in pairs)
    assert rate(p.verdict != NO_DIFFERENCE for p in pairs) < 0.1
    halves = noise_floor(a[0], name="uniform", boot=50)  # one arm's 10 seeds, 5 against 5
    assert halves.n_seeds == 5 and halves.seed_diffs[0] == pytest.approx(a[0][0].mean() - a[0][5].mean())
    with pytest.raises(StatsError, match="need at least 4 seeds"):
        noise_floor(a[0][:3])
    # a redraw on other training seeds is paired in numeric seed order; one arm's mapping splits by seed number
    first = {s: a[0][s - 1] for s in range(1, 11)}
    redraw = {s: b[0][s - 11] for s in range(11, 21)}
    assert noise_floor(first, redraw).seed_diffs == noise_floor(a[0], b[0]).seed_diffs
    assert noise_floor(dict(reversed(first.items()))).seed_diffs == noise_floor(a[0]).seed_diffs


def test_the_long_table_becomes_per_split_matrices():
    rows = [
        {
            "split": "test",
            "arm": arm,
            "seed": s,
            "question": q,
            "score": float(q == "q1" or arm == "apt"),
            "category": c,
        }
        for arm in ("apt", "sft")
        for s in (2, 1)
        for q, c in (("q1", "sort"), ("q2", "rotate"))
    ]
    table = scores_from_rows(rows)
    test = table["test"]
    assert test.questions == ("q1", "q2") and test.categories == ("sort", "rotate")
    assert test.arms["apt"][1].tolist() == [1.0, 1.0] and test.arms["sft"][2].tolist() == [1.0, 0.0]
    assert compare(test.arms["apt"], test.arms["sft"]).seed_diffs == (0.5, 0.5)
    with pytest.raises(StatsError, match="scored twice"):
        scores_from_rows(rows + rows[:1])
    with pytest.raises(StatsError, match="different questions"):
        scores_from_rows(rows[:-1])
    with pytest.raises(StatsError, match="lacks the field 'score'"):
        scores_from_rows([{"split": "test", "arm": "a", "seed": 1, "question": "q"}])
