"""Stages and the runner that executes them, for both methods' pipelines (the shape of distilabel's steps).

A :class:`Stage` declares its name, the settings it reads, its inputs (upstream signatures, file digests) and the
artifacts it writes; :class:`StageRunner` owns the run directory: one process at a time (its lock), the manifest, the
signatures (:mod:`openrlhf_weakness.io.stages`), reuse or recompute, per-stage seconds and the report of what was
reused and why the rest was recomputed. A stage's ``compute`` writes its artifacts atomically (``io.write_jsonl``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """An artifact this project wrote (trusted: inputs go through ``io.load_rows`` instead)."""
    from openrlhf_weakness.io import iter_jsonl

    return [row for _, row in iter_jsonl(path)]


def read_json(path: str | os.PathLike):
    with open(path) as f:
        return json.load(f)


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("openrlhf-weakness", "openrlhf", "deepspeed", "torch", "transformers", "faiss-cpu", "vllm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def clear_partial(path: Path) -> None:
    """Remove what an interrupted stage left behind (a temporary artifact)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


@dataclass
class Stage:
    """One unit of work: ``compute(folder)`` writes ``outputs`` in ``folder``; ``read(folder)`` gives the result back
    (default: the first output's JSON Lines), whether just computed or reused."""

    name: str
    settings: dict
    inputs: list
    outputs: list[str]
    compute: Callable[[Path], None]
    read: Callable[[Path], Any] | None = None
    folder: Path | None = None


class StageRunner:
    """Runs stages in one run directory; a rerun reuses every artifact whose signature still holds and recomputes a
    changed stage and all that depend on it (they take its signature as an input)."""

    def __init__(self, root: str | os.PathLike, config: dict):
        from openrlhf_weakness.io import lock_run_dir, write_json
        from openrlhf_weakness.io.stages import StageRecords

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_fd = lock_run_dir(self.root)  # held until this process and its training child end
        self.manifest = {"config": json.loads(json.dumps(config, default=str)), "versions": package_versions()}
        write_json(self.root / "manifest.json", self.manifest)
        self.records = StageRecords(self.root)
        self.seconds: dict[str, float] = {}  # work timed across stages: model loading, generation, training

    def key(self, folder: Path, name: str) -> str:
        """``iter_0/pairs`` for a stage in a folder of the run directory, ``skills`` at its root; a folder elsewhere
        by its path."""
        folder = Path(folder).resolve()
        if folder == self.root.resolve():
            return name
        inside = folder.is_relative_to(self.root.resolve())
        return f"{folder.relative_to(self.root.resolve()) if inside else folder}/{name}"

    def run(self, stage: Stage) -> tuple[Any, str]:
        """(result, signature) of ``stage``: its artifacts reused when made under the same signature, else computed."""
        folder = Path(stage.folder or self.root)
        folder.mkdir(parents=True, exist_ok=True)
        key = self.key(folder, stage.name)
        outputs = [folder / name for name in stage.outputs]
        signature, reusable = self.records.begin(key, stage.settings, stage.inputs, outputs)
        if not reusable:
            stage.compute(folder)
            self.records.done(key, signature, stage.settings)  # with the stage's seconds
        read = stage.read or (lambda f: read_jsonl(f / stage.outputs[0]))
        return read(folder), signature

    def timed(self, name: str, fn: Callable[[], Any]):
        """``fn()``, its seconds added to ``name``'s (model loading, training: the report's time columns)."""
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def decisions(self) -> list[dict]:
        return self.records.decisions

    def finish(self, final: dict) -> dict:
        """Write ``final.json`` (with the stage decisions) and add the decisions to the manifest."""
        from openrlhf_weakness.io import write_json

        final = dict(final, stages=self.decisions)
        write_json(self.root / "final.json", final)
        write_json(self.root / "manifest.json", dict(self.manifest, stages=self.decisions))
        computed = sum(1 for d in self.decisions if d["action"] == "computed")
        logger.info("stages: %d reused, %d computed", len(self.decisions) - computed, computed)
        return final

    def close(self) -> None:
        """Release the run directory (also released when the process ends)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None
