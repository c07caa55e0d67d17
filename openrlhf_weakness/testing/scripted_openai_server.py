"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted faults, for tests and benchmarks.

Each request's last user message picks its behaviour: ``fail429:k:`` / ``fail500:k:`` / ``malformed:k:`` /
``hang:k:`` fail the first k requests for that message, ``reject400`` always answers 400; otherwise the answer is
``echo: <message>`` (or whatever ``answer_fn`` returns), after ``latency`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import Counter
from typing import Callable

from openrlhf_weakness.testing.app_thread import AppThread

FAULT = re.compile(r"^(fail429|fail500|malformed|hang):(\d+):")


class ScriptedOpenAIServer:
    def __init__(
        self,
        latency: float = 0.0,
        answer_fn: Callable[[str], str] | None = None,
        hang_seconds: float = 30,
        refuse_system: bool = False,
    ):
        """``refuse_system``: answer HTTP 400 to any request with a system message, as a server whose model's chat
        template has no system role does."""
        self.latency, self.answer_fn, self.hang_seconds = latency, answer_fn, hang_seconds
        self.refuse_system = refuse_system
        self.bodies: list[dict] = []  # every request body, in arrival order
        self.seen: Counter = Counter()
        self.models: Counter = Counter()  # the "model" field of each request
        self.requests = 0
        self.max_concurrent = 0
        self._active = 0
        self._server = AppThread(self._app)

    @property
    def port(self) -> int | None:
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/v1"

    def __enter__(self) -> "ScriptedOpenAIServer":
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)

    def _app(self):
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request):
        from aiohttp import web

        body = await request.json()
        self.bodies.append(body)
        if self.refuse_system and any(m.get("role") == "system" for m in body["messages"]):
            self.requests += 1
            return web.json_response({"error": {"message": "System role not supported"}}, status=400)
        message = body["messages"][-1]["content"]
        self.requests += 1
        self.seen[message] += 1
        self.models[body.get("model")] += 1
        self._active += 1
        self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if message.startswith("reject400"):
                return web.json_response({"error": {"message": "bad request: scripted"}}, status=400)
            fault = FAULT.match(message)
            if fault and self.seen[message] <= int(fault.group(2)):
                kind = fault.group(1)
                if kind == "fail429":
                    return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "0"})
                if kind == "fail500":
                    return web.json_response({"error": "server error"}, status=500)
                if kind == "malformed":
                    return web.Response(text='{"choices": [ {"mess', content_type="application/json")
                await asyncio.sleep(self.hang_seconds)
            answer = self.answer_fn(message) if self.answer_fn else f"echo: {message}"
            n = body.get("n", 1)
            answers = answer if isinstance(answer, list) else [answer]  # a list: the n sampled answers, in turn
            choices = [
                {"index": i, "message": {"role": "assistant", "content": answers[i % len(answers)]}} for i in range(n)
            ]
            return web.Response(text=json.dumps({"choices": choices}), content_type="application/json")
        finally:
            self._active -= 1


def main() -> None:
    """Serve in the foreground (benchmarks run it in its own process): writes ``port N`` to stdout once listening,
    the line its parent waits for."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with ScriptedOpenAIServer(latency=args.latency) as server:
        sys.stdout.write(f"port {server.port}\n")
        sys.stdout.flush()
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
