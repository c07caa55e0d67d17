"""An optional JSON Lines trace of what the stand-in engines and the policy's sender did (weights digests per sync
round and per generation batch, timings), for tests and the step-time benchmark. Off unless ORW_STANDIN_TRACE names
a file."""

from __future__ import annotations

import os
import time

TRACE_ENV = "ORW_STANDIN_TRACE"


class Trace:
    def __init__(self, path: str | None):
        self.path = path
        self.enabled = bool(path)

    @classmethod
    def from_env(cls) -> "Trace":
        return cls(os.environ.get(TRACE_ENV) or None)

    def write(self, **row) -> None:
        if not self.enabled:
            return
        from openrlhf_weakness.io.jsonl import append_jsonl

        append_jsonl(self.path, [{**row, "time": time.time(), "pid": os.getpid()}])
