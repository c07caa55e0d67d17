"""The assessment record and the shared batch loop (threads: assessors wait on subprocesses, servers or sympy)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol


@dataclass
class Item:
    prompt: object
    response: str
    reference: object


@dataclass
class Assessment:
    score: int | None  # 1..5; None when the assessor could not decide (a counted skip, never a silent pass)
    feedback: str


class Assessor(Protocol):
    def assess_batch(self, items: list[Item]) -> list[Assessment]: ...


class PerItemAssessor:
    """Base for assessors that judge one item at a time; ``assess_batch`` runs them on a thread pool."""

    num_workers = 1

    def assess(self, item: Item) -> Assessment:
        raise NotImplementedError

    def _safe(self, item: Item) -> Assessment:
        if not item.response or not str(item.response).strip():
            return Assessment(1, "empty response")
        try:
            return self.assess(item)
        except Exception as err:  # one bad item must not sink a long run
            return Assessment(None, f"assessor error: {type(err).__name__}: {err}"[:300])

    def assess_batch(self, items: list[Item]) -> list[Assessment]:
        if self.num_workers <= 1:
            return [self._safe(item) for item in items]
        with ThreadPoolExecutor(self.num_workers) as pool:
            return list(pool.map(self._safe, items))


def score_to_1_5(value: float, scale: str = "unit") -> int:
    """Map a user score to 1..5. ``unit``: [0, 1] scales linearly (0 -> 1, 0.5 -> 3, 1 -> 5), as rewards usually are;
    ``five``: the score is already on 1..5 and is rounded half up."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        raise ValueError(f"score must be a number, got {value!r}")
    low, high = (0, 1) if scale == "unit" else (1, 5)
    if not low <= value <= high:
        raise ValueError(f"score must lie in [{low}, {high}] (--assess.function_scale {scale}), got {value}")
    return int(1 + 4 * value + 0.5) if scale == "unit" else int(value + 0.5)
