"""Assessment that can be cut off: each item runs in a worker process that is killed and replaced at its deadline.

A thread cannot be stopped, and math verification of ``9^9^9^9`` holds the interpreter lock for minutes; a user's
score function can loop forever. pebble's ProcessPool kills the worker of a task past its timeout and starts a new
one, so one bad answer costs one item's deadline, never the process. Workers are started with ``spawn`` (safe inside
threaded hosts such as vLLM's Ray actors) and build the assessor once, from its picklable configuration.
"""

from __future__ import annotations

import atexit
import logging
import pickle
import threading
import time
from concurrent.futures import CancelledError, Future

from openrlhf_weakness.assess.base import Assessment, Item
from openrlhf_weakness.errors import SettingsError

log = logging.getLogger(__name__)
_WORKER_ASSESSOR = None
MAX_ITEM_BYTES = 8 << 20  # a prompt, answer and label together, pickled
MAX_DEPTH = 32  # nesting of a label (lists and dicts)


class ItemTooLarge(ValueError):
    """An item that cannot be sent to a worker: too large, nested too deeply or not picklable."""


def check_item(item: Item) -> None:
    """Raise ItemTooLarge unless ``item`` is within the size and depth bounds and pickles (checked here, in the
    caller's thread, so that no such item reaches the pool's scheduler)."""
    stack = [(item.reference, 0), (item.prompt, 0), (item.response, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ItemTooLarge(f"label or answer nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
    try:
        size = len(pickle.dumps(item))
    except Exception as err:
        raise ItemTooLarge(f"item cannot be sent to a worker: {type(err).__name__}: {err}"[:200]) from None
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(f"item of {size} bytes; at most {MAX_ITEM_BYTES} (prompt, answer and label together)")


def _ping(seconds: float) -> int:
    import os

    time.sleep(seconds)
    return os.getpid()


def _init_worker(assess_cfg, gen_cfg) -> None:
    global _WORKER_ASSESSOR
    from openrlhf_weakness.assess.config import make_assessor

    _WORKER_ASSESSOR = make_assessor(assess_cfg, gen_cfg, isolated=False)
    if assess_cfg.assessor == "math":  # math-verify's first calls in a process are 3-5x slower: pay that here
        _WORKER_ASSESSOR.assess_batch([Item("", f"The answer is \\boxed{{{k}/7}}", str(k + 1)) for k in range(40)])


def _assess_in_worker(item: Item) -> Assessment:
    return _WORKER_ASSESSOR.assess_batch([item])[0]


def _done(assessment: Assessment) -> Future:
    future = Future()
    future.set_result(assessment)
    return future


class IsolatedAssessor:
    """The assessor ``make_assessor(assess_cfg, gen_cfg)`` names, run item by item in ``workers`` killable processes
    with ``timeout`` seconds per item. An item past its deadline is unscored (score None), never a default score."""

    def __init__(self, assess_cfg, gen_cfg=None, workers: int = 2, timeout: float = 30.0):
        import multiprocessing

        from pebble import ProcessPool

        if assess_cfg.assessor == "function":  # a missing or broken file fails here, once, not in every worker
            from openrlhf_weakness.assess.function import load_score_function

            if not assess_cfg.function_path:
                raise SettingsError("--assess.assessor function needs --assess.function_path")
            load_score_function(assess_cfg.function_path)
        self.timeout = timeout
        self._quick = None  # decides some items here, without a round trip to a worker
        if assess_cfg.assessor == "math":
            from openrlhf_weakness.assess.math_answer import integer_assessment

            self._quick = integer_assessment
        self._new_pool = lambda: ProcessPool(
            max_workers=workers,
            initializer=_init_worker,
            initargs=(assess_cfg, gen_cfg),
            context=multiprocessing.get_context("spawn"),
        )
        self.workers, self.replaced = workers, 0
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._closed = threading.Event()
        atexit.register(self.close)
        self.warm()

    def warm(self, timeout: float = 120.0) -> None:
        """Start every worker and run its initializer now, not on the first call (whose deadline would pay it)."""
        pings = [self._pool.schedule(_ping, args=(0.2,)) for _ in range(self.workers)]
        for ping in pings:
            try:
                ping.result(timeout=timeout)
            except Exception as err:  # a worker that cannot start fails its items later, each with the reason
                log.warning("assessor worker did not start: %s: %s", type(err).__name__, err)

    def healthy(self) -> bool:
        """Whether the pool is running and its scheduling threads are alive."""
        loops = getattr(self._pool, "_loops", ())
        return bool(self._pool.active) and all(t.is_alive() for t in loops)

    def health(self) -> dict:
        return {"pool": "ok" if self.healthy() else "down", "workers": self.workers, "pools_replaced": self.replaced}

    def _heal(self) -> None:
        """Replace a pool whose threads died (the next item then runs on a fresh one)."""
        with self._lock:
            if self._closed.is_set() or self.healthy():
                return
            log.warning("assessor pool was down (a scheduling thread died): replacing it")
            old, self._pool = self._pool, self._new_pool()
            self.replaced += 1
            threading.Thread(target=lambda: (old.stop(), old.join(timeout=5)), daemon=True).start()
            self.warm()

    def submit(self, item: Item):
        """A future of the item's Assessment; raises TimeoutError when its worker was killed at the deadline. A math
        item with plain integers on both sides is decided here (bounded work, no round trip to a worker)."""
        try:
            check_item(item)
        except ItemTooLarge as err:
            return _done(Assessment(None, str(err)))
        decided = self._quick(item) if self._quick else None
        if decided is not None:
            return _done(decided)
        if not self.healthy():
            self._heal()
        try:
            return self._pool.schedule(_assess_in_worker, args=(item,), timeout=self.timeout)
        except RuntimeError:  # the pool stopped between the check and here: once more on a fresh one
            self._heal()
            return self._pool.schedule(_assess_in_worker, args=(item,), timeout=self.timeout)

    def collect(self, futures: list, deadline: float | None = None) -> tuple[list[Assessment], int]:
        """Wait for ``futures`` until ``deadline`` (``time.monotonic()``; None: each item's own timeout bounds it).
        Returns the assessments and how many timed out; a future still waiting at the deadline is cancelled."""
        out, timeouts = [], 0
        for future in futures:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                out.append(future.result(timeout=wait))
            except (TimeoutError, CancelledError):
                future.cancel()
                timeouts += 1
                out.append(Assessment(None, f"assessment did not finish within {self.timeout:g} s (worker killed)"))
            except Exception as err:  # the worker died some other way (memory): this item only
                out.append(Assessment(None, f"assessor worker failed: {type(err).__name__}: {err}"[:300]))
        return out, timeouts

    def assess_batch(self, items: list[Item]) -> list[Assessment]:
        return self.collect([self.submit(item) for item in items])[0]

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._pool.stop()
            self._pool.join(timeout=5)
