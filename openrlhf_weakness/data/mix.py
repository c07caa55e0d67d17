"""General rows mixed into a training set at a fixed share, replacing as many of its rows so the budget stays: the
usual remedy for a guard that falls when a model is trained on one domain only (issue 26)."""

from __future__ import annotations

import random


def mix_in(rows: list, general: list, ratio: float, seed: int) -> tuple[list, int]:
    """``rows`` with ``round(len(rows) * ratio)`` of them, chosen by ``seed``, replaced by as many ``general`` rows
    (drawn without replacement while they last); returns (rows in their original order, how many were replaced)."""
    if not 0 <= ratio < 1:
        raise ValueError(f"the general share must lie in [0, 1), got {ratio}")
    count = min(round(len(rows) * ratio), len(general))
    if not count:
        return list(rows), 0
    rng = random.Random(seed)
    replaced = set(rng.sample(range(len(rows)), count))
    drawn = iter(rng.sample(general, count))
    return [next(drawn) if i in replaced else row for i, row in enumerate(rows)], count
