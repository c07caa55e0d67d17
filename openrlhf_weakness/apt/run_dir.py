"""A run directory: one process at a time, a manifest with the configuration and package versions of the last run and
which stages it reused or recomputed (and why). A stage interrupted mid-way leaves only a temporary file, never a
finished-looking one; which artifacts still hold is decided by their signatures (:mod:`openrlhf_weakness.io.stages`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from openrlhf_weakness.io import lock_run_dir, write_json


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


class RunDir:
    def __init__(self, root: str | os.PathLike, config: dict):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_fd = lock_run_dir(self.root)  # held until this process and its training child end
        self.manifest = {"config": json.loads(json.dumps(config, default=str)), "versions": package_versions()}
        write_json(self.root / "manifest.json", self.manifest)

    def record_stages(self, decisions: list[dict]) -> None:
        """Add to the manifest which stages this run reused and which it recomputed, and why."""
        write_json(self.root / "manifest.json", dict(self.manifest, stages=decisions))

    def close(self) -> None:
        """Release the run directory (also released when the process ends)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def iteration(self, t: int) -> Path:
        path = self.root / f"iter_{t}"
        path.mkdir(exist_ok=True)
        return path

    @staticmethod
    def clear_partial(path: Path) -> None:
        """Remove what an interrupted stage left behind (a temporary artifact)."""
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
