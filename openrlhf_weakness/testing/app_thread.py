"""Run an aiohttp application on 127.0.0.1 in a background thread (tests and benchmarks)."""

from __future__ import annotations

import asyncio
import threading


class AppThread:
    def __init__(self, app_factory):
        """``app_factory()`` is called inside the server's own event loop and returns the aiohttp application."""
        self.app_factory = app_factory
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "AppThread":
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError("server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._loop.run_until_complete(self._make()))
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _make(self):
        return self.app_factory()
