"""Means and paired differences with bootstrap confidence intervals over questions and training seeds.

An arm's results are a matrix ``[seed][question]`` of per-question scores (1/0 for right/wrong). Two arms are
compared on the same questions and, where both were trained, the same seeds (seed i of one arm against seed i of the
other); an untrained arm (the base model, one row) is compared with every seed. Resampling questions and seeds with
replacement, the same draws for both arms, gives the paired interval.

Verdicts between trained arms do not rest on ``paired_difference``: resampling 3 seeds as if there were many makes its
interval too narrow (on simulated nulls with seed-to-seed variance it calls a difference about 11% of the time at a
nominal 5%). ``experiment.seed_stats.compare`` gives the seed-level test; these intervals stay for per-arm means and
for information.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Estimate:
    mean: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}


def _matrix(results):
    import numpy as np

    m = np.asarray(results, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] == 0:
        raise ValueError(f"results must be [seed][question] with at least one question, got shape {m.shape}")
    return m


def _draws(n_seeds: int, n_questions: int, boot: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, n_seeds, (boot, n_seeds)), rng.integers(0, n_questions, (boot, n_questions))


def _boot_means(m, seed_idx, question_idx):
    """Per draw b: the mean over the drawn seeds of each seed's mean over the drawn questions."""
    import numpy as np

    per_seed = np.stack([m[s][question_idx].mean(axis=1) for s in range(m.shape[0])], axis=1)  # (boot, seeds)
    return np.take_along_axis(per_seed, seed_idx, axis=1).mean(axis=1)


def mean_ci(results, boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """The mean of an arm's scores and its bootstrap interval (questions and seeds resampled)."""
    import numpy as np

    m = _matrix(results)
    seed_idx, question_idx = _draws(m.shape[0], m.shape[1], boot, seed)
    means = _boot_means(m, seed_idx, question_idx)
    tail = (1 - level) / 2 * 100
    return Estimate(float(m.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)))


def paired_difference(a, b, boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Mean of ``a`` minus mean of ``b`` on the same questions, with a paired bootstrap interval.

    Too narrow with few seeds (see the module docstring): for a verdict use ``seed_stats.compare``.
    """
    import numpy as np

    ma, mb = _matrix(a), _matrix(b)
    if ma.shape[1] != mb.shape[1]:
        raise ValueError(f"the arms were scored on different question sets ({ma.shape[1]} vs {mb.shape[1]})")
    seeds = max(ma.shape[0], mb.shape[0])
    for name, m in (("a", ma), ("b", mb)):
        if m.shape[0] not in (1, seeds):
            raise ValueError(f"arm {name} has {m.shape[0]} seeds; pair arms with equal seeds or one untrained row")
    ma, mb = np.broadcast_to(ma, (seeds, ma.shape[1])), np.broadcast_to(mb, (seeds, mb.shape[1]))
    diff = ma - mb
    seed_idx, question_idx = _draws(seeds, diff.shape[1], boot, seed)
    means = _boot_means(diff, seed_idx, question_idx)
    tail = (1 - level) / 2 * 100
    return Estimate(float(diff.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)))


def verdict(diff: Estimate) -> str:
    """How a bootstrap difference reads: better, worse, or no measurable difference (its interval holds 0).

    Kept for the bootstrap intervals; the seed-level verdict is ``seed_stats.SeedComparison.verdict``.
    """
    if diff.ci_low > 0:
        return "better"
    if diff.ci_high < 0:
        return "worse"
    return "no measurable difference"
