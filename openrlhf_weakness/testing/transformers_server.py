"""A real OpenAI-compatible server on CPU: ``transformers serve`` pinned to one local model folder, on 127.0.0.1 at a
free port, started and stopped as a context manager (tests, parse-rate figures, demos)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from openrlhf_weakness.launch import free_port


class TransformersServer:
    def __init__(self, model_dir: str | os.PathLike, log_path: str | os.PathLike, start_timeout: float = 180.0):
        self.model = str(model_dir)  # a pinned server answers requests that name this exact model
        self.log_path, self.start_timeout = Path(log_path), start_timeout
        self.port = free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "TransformersServer":
        import requests

        exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
        if exe is None:
            raise RuntimeError("`transformers` CLI not found: install transformers[serving] (make install does)")
        cmd = [
            exe,
            "serve",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--log-level",
            "warning",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self._proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(
            f"transformers serve did not answer /health in {self.start_timeout:.0f} s; see {self.log_path}"
        )

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None
