"""On-disk cache of generated answers, keyed by model identity, prompt and sampling parameters.

SQLite: every answer is committed as it arrives, so an interrupted run keeps what it paid for and a rerun resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path


def model_identity(model: str) -> str:
    """A local model folder is identified by its path and its files' sizes and mtimes (retrained in place -> new key)."""
    path = Path(model)
    if not path.is_dir():
        return model
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
    return f"{path.resolve()}|{hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]}"


def cache_key(model_id: str, prompt, params: dict) -> str:
    blob = json.dumps({"model": model_id, "prompt": prompt, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, directory: str | os.PathLike):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(Path(directory) / "responses.sqlite", check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()
        self._lock = threading.Lock()

    def get(self, key: str) -> list[str] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, completions: list[str]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(completions)))
            self._db.commit()

    def close(self) -> None:
        self._db.close()


DEFAULT_CACHE_DIR = ".cache/generations"


def open_cache(gen, default_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> ResponseCache | None:
    """The response cache a GenerationConfig asks for: none with ``no_cache_enable``, else ``cache_dir`` or the
    caller's default (a run directory's own cache)."""
    return None if gen.no_cache_enable else ResponseCache(gen.cache_dir or default_dir)
