"""Seed-level verdicts: arm A against arm B with training seeds as the unit of replication.

Why per-seed t: a trained arm's score moves with its training seed far more than question sampling explains, so the
seed is the unit of replication. Seed i of A is paired with seed i of B (both scored on the same questions); the n
per-seed differences give a Student t interval and a two-sided p value on n - 1 degrees of freedom, which stays
calibrated with 3 seeds. The question-level paired bootstrap (questions resampled, seeds pooled) ignores seed variance:
measured about 2.7x too narrow in the issue-26 audit (2.4x, and 40% false positives, on the tests' simulated nulls), so
it is shown beside the verdict for information only, never as the verdict.

API (all scores are per-question, e.g. 1/0 for right/wrong; an arm is ``[seed][question]`` as a 2-D array-like, rows
paired by position, or a mapping ``seed -> per-question scores``, paired by seed key):

- ``compare(a, b, *, names=("A", "B"), alpha=0.05, keep=None, fixed=None, boot=2000, seed=0) -> SeedComparison``
  ``keep``: a boolean mask or integer indices of the questions to use (see ``category_mask``); ``fixed="a"``/``"b"``:
  that arm is untrained (one row) and is compared with every seed of the other.
- ``noise_floor(first, second=None, *, name="noise floor", ...) -> SeedComparison``: two independent draws of one
  procedure under the same test (``second=None`` splits ``first``'s seeds into two halves).
- ``category_mask(categories, wanted) -> np.ndarray``: the questions (one category or a set of them each) in ``wanted``.
- ``scores_from_rows(rows) -> dict[split, SplitScores]``: the long table (one row per split, arm, seed, question:
  ``{"split", "arm", "seed", "question", "score"}`` plus an optional ``"category"``) as per-split matrices.
- ``SeedComparison``: ``mean_diff``, ``t_low``/``t_high``, ``p_value``, ``n_seeds``, ``seed_diffs``,
  ``question_interval`` (the pooled question bootstrap, an ``Estimate``), ``verdict`` (``"<A> better"``,
  ``"<B> better"`` or ``"no detectable difference"`` at ``alpha``), ``line()``, ``as_dict()``.

Everything raises ``StatsError`` (a ``ValueError``) on input it cannot test honestly, e.g. fewer than 2 seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from openrlhf_weakness.experiment.stats import Estimate

NO_DIFFERENCE = "no detectable difference"
NO_SPREAD = "no seed-level test: every seed gave the same nonzero difference"


class StatsError(ValueError):
    """Scores that cannot be compared honestly: too few seeds, unpaired seeds, mismatched questions, bad values."""


# --- Student t, exact for integer degrees of freedom (numpy and math only; scipy is not a dependency) ---


def _t_within(t: float, df: int) -> float:
    """P(|T| <= t) for T ~ Student t with integer ``df`` (the finite series of Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise StatsError(f"the t distribution needs at least 1 degree of freedom, got {df}")
    t = abs(t)
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        return min(1.0, s * total)
    if df == 1:
        return 2 * theta / math.pi
    term, total = 1.0, 1.0
    for k in range(1, (df - 1) // 2):
        term *= c2 * (2 * k) / (2 * k + 1)
        total += term
    return min(1.0, 2 / math.pi * (theta + s * math.cos(theta) * total))


def t_two_sided_p(t: float, df: int) -> float:
    """Two-sided p value of a t statistic on ``df`` degrees of freedom."""
    return max(0.0, 1.0 - _t_within(t, df))


@lru_cache(maxsize=256)
def t_quantile(prob: float, df: int) -> float:
    """The ``prob`` quantile (0.5 < prob < 1) of Student t on ``df`` degrees of freedom, by bisection."""
    if not 0.5 < prob < 1:
        raise StatsError(f"t_quantile takes a probability in (0.5, 1), got {prob}")
    want = 2 * prob - 1  # P(|T| <= q)
    lo, hi = 0.0, 1.0
    while _t_within(hi, df) < want:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_within(mid, df) < want:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


# --- inputs ---


def _as_seed_rows(scores, side: str):
    """An arm's scores as (seed keys or None, float matrix [seed][question])."""
    import numpy as np

    keys = None
    if isinstance(scores, Mapping):
        keys = list(scores)
        rows = [np.asarray(scores[k], dtype=np.float64) for k in keys]
        if not rows:
            raise StatsError(f"arm {side} has no seeds")
        if len({r.shape for r in rows}) != 1 or rows[0].ndim != 1:
            raise StatsError(f"arm {side}: every seed must hold one flat list of per-question scores, the same length")
        m = np.stack(rows)
    else:
        m = np.asarray(scores, dtype=np.float64)
        if m.ndim == 1:
            m = m[None, :]
        if m.ndim != 2:
            raise StatsError(f"arm {side} must be [seed][question], got an array of shape {m.shape}")
    if m.shape[0] == 0 or m.shape[1] == 0:
        raise StatsError(f"arm {side} must hold at least one seed and one question, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise StatsError(f"arm {side} holds NaN or infinite scores; score every question before comparing")
    return keys, m


def _seed_order(key):
    """Sort key for seeds: numbers numerically, then anything else by its text."""
    number = isinstance(key, (int, float)) and not isinstance(key, bool)
    return (not number, key if number else str(key))


def _in_key_order(scores):
    """An arm's matrix with mapping seeds sorted by key (rows of an array stay as given)."""
    if isinstance(scores, Mapping):
        scores = {k: scores[k] for k in sorted(scores, key=_seed_order)}
    return _as_seed_rows(scores, "A")[1]


def _keep_columns(m, keep, n_questions: int):
    import numpy as np

    if keep is None:
        return m
    k = np.asarray(keep)
    if k.dtype == bool:
        if k.shape != (n_questions,):
            raise StatsError(f"the question mask has shape {k.shape}, the arms have {n_questions} questions")
        if not k.any():
            raise StatsError("the question mask selects no questions")
    else:
        if k.size and not np.issubdtype(k.dtype, np.integer):
            raise StatsError(f"keep must be a boolean mask or integer question indices, got dtype {k.dtype}")
        if k.ndim != 1 or k.size == 0:
            raise StatsError("the question indices must be a non-empty flat list")
        if k.min() < -n_questions or k.max() >= n_questions:
            raise StatsError(f"a question index is out of range for {n_questions} questions")
    return m[:, k]


def _paired(a, b, fixed: str | None, keep):
    """Per-seed rows of A and B aligned for pairing: (matrix A, matrix B), both [n_seeds][question]."""
    import numpy as np

    keys_a, ma = _as_seed_rows(a, "A")
    keys_b, mb = _as_seed_rows(b, "B")
    if ma.shape[1] != mb.shape[1]:
        raise StatsError(f"the arms were scored on different question sets ({ma.shape[1]} vs {mb.shape[1]} questions)")
    ma, mb = _keep_columns(ma, keep, ma.shape[1]), _keep_columns(mb, keep, mb.shape[1])
    if fixed not in (None, "a", "b"):
        raise StatsError(f"fixed must be None, 'a' or 'b', got {fixed!r}")
    if fixed is not None:
        one, other = (ma, mb) if fixed == "a" else (mb, ma)
        if one.shape[0] != 1:
            raise StatsError(f"arm {fixed.upper()} is marked fixed (untrained) but has {one.shape[0]} seeds")
        one = np.broadcast_to(one, other.shape)
        return (one, other) if fixed == "a" else (other, one)
    if keys_a is not None and keys_b is not None:
        if set(keys_a) != set(keys_b):
            raise StatsError(
                f"the arms' seeds differ: only A has {sorted(set(keys_a) - set(keys_b), key=str)}, "
                f"only B has {sorted(set(keys_b) - set(keys_a), key=str)}; pair seed i of A with seed i of B"
            )
        order = [keys_b.index(k) for k in keys_a]
        mb = mb[order]
    elif ma.shape[0] != mb.shape[0]:
        raise StatsError(
            f"A has {ma.shape[0]} seeds and B {mb.shape[0]}; pair seed i of A with seed i of B "
            "(or mark an untrained one-row arm with fixed='a'/'b')"
        )
    return ma, mb


# --- the test ---


@dataclass(frozen=True)
class SeedComparison:
    """Arm A minus arm B, tested over training seeds; the question bootstrap beside it is for information."""

    a: str
    b: str
    mean_diff: float
    t_low: float
    t_high: float
    p_value: float | None  # None: no spread between seeds to test against (NO_SPREAD)
    n_seeds: int
    n_questions: int
    alpha: float
    seed_diffs: tuple[float, ...]
    question_interval: Estimate
    verdict: str
    noise_floor: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def level(self) -> float:
        return 1.0 - self.alpha

    def line(self) -> str:
        """One line for a table or a log: the difference, its seed-level interval and p, the verdict."""
        q = self.question_interval
        tag = " (noise floor)" if self.noise_floor else ""
        p = "n/a" if self.p_value is None else f"{self.p_value:.3g}"
        return (
            f"{self.a} - {self.b}{tag}: {self.mean_diff:+.3f}, {self.level:.0%} t interval over {self.n_seeds} seeds "
            f"[{self.t_low:+.3f}, {self.t_high:+.3f}], p = {p} -> {self.verdict} "
            f"(question bootstrap, for information: [{q.ci_low:+.3f}, {q.ci_high:+.3f}]; {self.n_questions} questions)"
        )

    def as_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "mean_diff": self.mean_diff,
            "t_low": self.t_low,
            "t_high": self.t_high,
            "p_value": self.p_value,
            "n_seeds": self.n_seeds,
            "n_questions": self.n_questions,
            "alpha": self.alpha,
            "seed_diffs": list(self.seed_diffs),
            "question_interval": self.question_interval.as_dict(),
            "verdict": self.verdict,
            "noise_floor": self.noise_floor,
            **({"extra": self.extra} if self.extra else {}),
        }


def question_bootstrap(diff, boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Percentile interval of the mean of per-question differences (pooled over seeds), questions resampled.

    Ignores seed-to-seed variance, so it is too narrow for trained arms: shown beside the verdict, never as it.
    """
    import numpy as np

    d = np.asarray(diff, dtype=np.float64)
    if d.ndim == 2:
        d = d.mean(axis=0)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (boot, d.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return Estimate(float(d.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)))


def compare(
    a,
    b,
    *,
    names: tuple[str, str] = ("A", "B"),
    alpha: float = 0.05,
    keep=None,
    fixed: str | None = None,
    boot: int = 2000,
    seed: int = 0,
) -> SeedComparison:
    """Arm ``a`` minus arm ``b`` on the same questions: per-seed paired differences, Student t on n - 1 df."""
    if not 0 < alpha < 1:
        raise StatsError(f"alpha must lie in (0, 1), got {alpha}")
    ma, mb = _paired(a, b, fixed, keep)
    n = ma.shape[0]
    if n < 2:
        raise StatsError(
            f"{names[0]} vs {names[1]}: {n} seed; a seed-level test needs at least 2 training seeds per arm "
            "(the seed is the unit of replication)"
        )
    diff = ma - mb
    per_seed = diff.mean(axis=1)
    mean = float(per_seed.mean())
    sd = float(per_seed.std(ddof=1))
    se = sd / math.sqrt(n)
    if se > 0:
        t = mean / se
        p = t_two_sided_p(t, n - 1)
        half = t_quantile(1 - alpha / 2, n - 1) * se
    else:  # every seed gave the same difference (a coincidence of 2 seeds on discrete scores): nothing to test against
        p, half = (1.0 if mean == 0 else None), 0.0
    if p is None:
        word = NO_SPREAD
    elif p < alpha:
        word = f"{names[0]} better" if mean > 0 else f"{names[1]} better"
    else:
        word = NO_DIFFERENCE
    return SeedComparison(
        a=names[0],
        b=names[1],
        mean_diff=mean,
        t_low=mean - half,
        t_high=mean + half,
        p_value=None if p is None else float(p),
        n_seeds=n,
        n_questions=int(diff.shape[1]),
        alpha=alpha,
        seed_diffs=tuple(float(x) for x in per_seed),
        question_interval=question_bootstrap(diff, boot=boot, level=1 - alpha, seed=seed),
        verdict=word,
    )


def noise_floor(
    first, second=None, *, name: str = "noise floor", alpha: float = 0.05, keep=None, boot: int = 2000, seed: int = 0
) -> SeedComparison:
    """The same test on two independent draws of one procedure: what "a difference" looks like with none there.

    ``second=None`` splits ``first``'s seeds into two halves (first half against second half in seed order; an odd
    last seed is left out), so one arm trained on 2n seeds gives its own noise floor on n seeds. Two mappings with
    different seed keys (a redraw on other seeds) are paired in seed order; with the same keys, by key.
    """
    if second is None:
        m = _in_key_order(first)
        half = m.shape[0] // 2
        if half < 2:
            raise StatsError(f"{name}: splitting {m.shape[0]} seeds leaves {half} per half; need at least 4 seeds")
        first, second = m[:half], m[half : 2 * half]
    elif isinstance(first, Mapping) and isinstance(second, Mapping) and set(first) != set(second):
        first, second = _in_key_order(first), _in_key_order(second)  # independent draws: pair in seed order
    out = compare(first, second, names=(f"{name} (1)", f"{name} (2)"), alpha=alpha, keep=keep, boot=boot, seed=seed)
    return replace(out, noise_floor=True, extra={"procedure": name})


def category_mask(categories: Sequence, wanted: Iterable[str]):
    """A boolean mask of the questions whose category (a string, or a set of them) is in ``wanted``.

    Refuses a wanted category that no question carries (a typo in a pre-registered list would otherwise silently
    shrink the subset) and a selection that keeps no question.
    """
    import numpy as np

    wanted = {str(w) for w in wanted}
    if not wanted:
        raise StatsError("no categories wanted: name at least one")
    cats = [{c} if isinstance(c, str) else set(c or ()) for c in categories]
    seen = set().union(*cats) if cats else set()
    missing = sorted(wanted - seen)
    if missing:
        raise StatsError(f"no question carries the categories {missing}; the questions carry {sorted(seen)}")
    return np.array([bool(c & wanted) for c in cats], dtype=bool)


# --- the long table ---


@dataclass
class SplitScores:
    """One split of the long table: question order, their categories, and arm -> seed -> per-question scores."""

    questions: tuple
    categories: tuple
    arms: dict


def scores_from_rows(rows: Iterable[Mapping]) -> dict[str, SplitScores]:
    """Per split, the arms' ``seed -> scores`` in one question order, from rows of the long table.

    Each row: ``split``, ``arm``, ``seed``, ``question`` (an id), ``score`` and optionally ``category`` (a string or a
    list). Refuses a repeated cell, an arm-seed that misses questions another one has, and a question whose category
    differs between rows.
    """
    import numpy as np

    cells: dict = {}
    cats: dict = {}
    for i, row in enumerate(rows):
        try:
            split, arm, sd, q, score = row["split"], row["arm"], row["seed"], row["question"], row["score"]
        except KeyError as e:
            raise StatsError(f"row {i} lacks the field {e.args[0]!r} (need split, arm, seed, question, score)") from e
        key = (split, arm, sd)
        got = cells.setdefault(key, {})
        if q in got:
            raise StatsError(f"row {i}: split {split!r} arm {arm!r} seed {sd!r} question {q!r} is scored twice")
        got[q] = float(score)
        if "category" in row:
            c = row["category"]
            c = c if isinstance(c, str) else tuple(sorted(c))
            prev = cats.setdefault((split, q), c)
            if prev != c:
                raise StatsError(f"row {i}: question {q!r} in split {split!r} has category {c!r} and also {prev!r}")
    out: dict[str, SplitScores] = {}
    for split in dict.fromkeys(k[0] for k in cells):
        keys = [k for k in cells if k[0] == split]
        order = list(cells[keys[0]])
        qset = set(order)
        for k in keys:
            if set(cells[k]) != qset:
                diff = sorted(qset ^ set(cells[k]), key=str)[:5]
                raise StatsError(
                    f"split {split!r}: arm {k[1]!r} seed {k[2]!r} and arm {keys[0][1]!r} seed {keys[0][2]!r} "
                    f"were scored on different questions (e.g. {diff})"
                )
        arms: dict = {}
        for _, arm, sd in keys:
            arms.setdefault(arm, {})[sd] = np.array([cells[(split, arm, sd)][q] for q in order])
        categories = tuple(cats.get((split, q)) for q in order)
        out[split] = SplitScores(questions=tuple(order), categories=categories, arms=arms)
    return out
