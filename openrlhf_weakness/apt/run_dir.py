"""A run directory: a manifest fixing the configuration, finished artifacts written atomically, stages skipped when
their artifact exists. A stage interrupted mid-way leaves only a temporary file, never a finished-looking one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from openrlhf_weakness.io import lock_run_dir, write_json


class ConfigMismatch(RuntimeError):
    """The run directory was written by another configuration."""


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
    def __init__(self, root: str | os.PathLike, config: dict, force: bool = False):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_fd = lock_run_dir(self.root)  # held until this process and its training child end
        manifest = self.root / "manifest.json"
        if manifest.exists():
            old = read_json(manifest)["config"]
            if old != json.loads(json.dumps(config, default=str)) and not force:
                self.close()
                changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
                raise ConfigMismatch(
                    f"{self.root} was written by another configuration (differs in: {', '.join(changed)}); use a new "
                    "--apt.run_dir, or --apt.resume_force_enable to continue it anyway"
                )
        write_json(manifest, {"config": config, "versions": package_versions()})

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
    def done(path: Path) -> bool:
        return path.exists()

    @staticmethod
    def clear_partial(path: Path) -> None:
        """Remove what an interrupted stage left behind (a temporary artifact)."""
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
