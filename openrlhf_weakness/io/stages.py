"""Stage artifacts keyed by what they depend on: a changed setting or input recomputes that stage and every one after.

Each stage has a signature: a digest of the settings it reads and of its inputs' signatures (upstream stages'
signatures, input files' digests). ``stages.json`` in the run directory records the signature each artifact was made
with; an artifact is reused only under the same signature, and every decision (reused, computed, why recomputed)
is kept for the manifest. Downstream stages take upstream signatures as inputs, so a change flows forward.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path


def digest(value) -> str:
    """A short stable digest of JSON-able data."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | os.PathLike | None, length: int = 16) -> str | None:
    """An input's content digest (None for no input): an edited input file changes its stages' signatures. A folder
    (saved by ``datasets``, or of data files) digests its files' relative paths and contents in sorted order; a hub
    name, its name (a hub dataset's revision is not checked)."""
    if not path:
        return None
    sha = hashlib.sha256()
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
    elif root.exists() or os.path.splitext(str(root))[1]:
        files = [root]  # a missing file raises here, as it always did
    else:
        sha.update(f"hub:{path}".encode())
        files = []
    for file in files:
        if file is not root:
            sha.update(f"\0{file.relative_to(root).as_posix()}\0".encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()[:length]


class StageRecords:
    def __init__(self, root: str | os.PathLike):
        self.path = Path(root) / "stages.json"
        self.records: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.decisions: list[dict] = []
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def signature(self, settings: dict, inputs: list) -> str:
        return digest({"settings": settings, "inputs": inputs})

    def begin(self, name: str, settings: dict, inputs: list, artifacts: list[Path]) -> tuple[str, bool]:
        """(signature, reusable) of a stage; when not reusable its stale artifacts are already gone."""
        signature = self.signature(settings, inputs)
        return signature, self.reuse(name, signature, settings, artifacts)

    def reuse(self, name: str, signature: str, settings: dict, artifacts: list[Path]) -> bool:
        """True when every artifact exists and was made under ``signature``; otherwise remove stale ones, log why."""
        record = self.records.get(name)
        missing = [str(a.name) for a in artifacts if not a.exists()]
        if record and record["signature"] == signature and not missing:
            self.decisions.append({"stage": name, "action": "reused"})
            return True
        if record is None:
            why = "first run"
        elif missing:
            why = f"artifact missing: {', '.join(missing)}"
        else:
            changed = sorted(
                k for k in set(record["settings"]) | set(settings) if record["settings"].get(k) != settings.get(k)
            )
            why = (
                f"settings changed: {', '.join(changed)}"
                if changed
                else "an input changed (a file or an earlier stage)"
            )
        for artifact in artifacts:
            if artifact.is_dir():
                shutil.rmtree(artifact)
            elif artifact.exists():
                artifact.unlink()
        self.decisions.append({"stage": name, "action": "computed", "why": why})
        self._started[name] = time.perf_counter()
        return False

    def done(self, name: str, signature: str, settings: dict) -> None:
        """Record a finished stage (after its artifacts were written atomically)."""
        from openrlhf_weakness.io.jsonl import write_json

        self.seconds[name] = time.perf_counter() - self._started.pop(name)
        self.records[name] = {"signature": signature, "settings": json.loads(json.dumps(settings, default=str))}
        write_json(self.path, self.records)
