"""Watch APT's failure signature: the chosen answers' log-probability falling from where training started."""

from __future__ import annotations

from collections import deque


class ChosenLogpGuard:
    """Compare the mean of the last ``window`` per-token chosen log-probabilities with the mean of the first ``window``.

    Batches differ step to step, so single values are noisy; windows smooth that out.
    """

    def __init__(self, max_drop: float, window: int = 4):
        self.max_drop, self.window = max_drop, max(1, window)
        self.start: list[float] = []
        self.recent: deque[float] = deque(maxlen=self.window)
        self.tripped_at: int | None = None

    def update(self, step: int, chosen_logp: float) -> float | None:
        """Record one step; return the drop (nats/token) the first time it exceeds the limit, else None."""
        if len(self.start) < self.window:
            self.start.append(chosen_logp)
        self.recent.append(chosen_logp)
        if len(self.start) < self.window or self.tripped_at is not None:
            return None
        drop = self.drop()
        if drop > self.max_drop:
            self.tripped_at = step
            return drop
        return None

    def drop(self) -> float:
        if not self.start:
            return 0.0
        return sum(self.start) / len(self.start) - sum(self.recent) / len(self.recent)
