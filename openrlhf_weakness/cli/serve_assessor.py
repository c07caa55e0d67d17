"""Serve this project's assessors as an OpenRLHF reward endpoint (``--reward.remote_url http://host:port/get_reward``).

    python -m openrlhf_weakness.cli.serve_assessor --serve.port 5000 --hook.assessor math --hook.ledger ledger.jsonl

The ``--hook.<name>`` flags are the hook's ``ORW_REWARD_<NAME>`` settings: its own, the assessor's (``--assess.*``
of ``cli.assess``, same names) and the judge's (``--judge.<name>`` of ``cli.assess`` as ``--hook.judge_<name>``).

POST any path but /health with ``{"query": [...], "prompts": [...], "labels": [...]}`` -> ``{"rewards": [...],
"scores": [...], "extra_logs": {...}}``. GET /health -> ``{"status": "ok", "pool": "ok", ...}`` (503 and
``"degraded"`` while the worker pool is down; it is replaced on the next request). Binds 127.0.0.1 unless told
otherwise; bodies over ``--serve.max_body_mb`` get 413, malformed or too deeply nested bodies and requests with more
than ``--serve.max_samples`` samples 400, a body not received within ``--serve.body_timeout`` seconds 408, and the
server keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, flag, from_namespace, nested


@dataclass
class ServeConfig:
    """The HTTP server."""

    host: str = flag("127.0.0.1", "address to bind (0.0.0.0 exposes it)")
    port: int = flag(5000, "port to bind")
    max_body_mb: float = flag(16.0, "largest request body accepted")
    max_concurrent: int = flag(16, "requests assessed at once (the rest wait)")
    max_samples: int = flag(4096, "most samples one request may carry")
    body_timeout: float = flag(30.0, "seconds a client may take to send its body (slow partial bodies are closed)")


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.hooks.rewarder import add_hook_flags

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.serve_assessor", description=__doc__.splitlines()[0])
    add_flags(parser, ServeConfig, "serve")
    add_hook_flags(parser)
    return parser


def make_app(
    rewarder, max_body_mb: float = 16.0, max_concurrent: int = 16, max_samples: int = 4096, body_timeout: float = 30.0
):
    """The aiohttp application (tests and benchmarks start it on 127.0.0.1)."""
    from aiohttp import web

    limit = asyncio.Semaphore(max_concurrent)
    counters = {"requests": 0, "bad_requests": 0, "samples": 0, "started": time.time()}

    def bad(message: str):
        counters["bad_requests"] += 1
        return web.json_response({"error": message}, status=400)

    async def health(request):
        pool = rewarder.health()
        status = "ok" if pool["pool"] == "ok" else "degraded"
        body = {"status": status, **counters, "assessor": rewarder.cfg.assess.assessor, **pool}
        return web.json_response(body, status=200 if status == "ok" else 503)

    async def reward(request):
        counters["requests"] += 1
        try:
            raw = await asyncio.wait_for(request.read(), timeout=body_timeout)
        except web.HTTPRequestEntityTooLarge:
            counters["bad_requests"] += 1
            raise
        except asyncio.TimeoutError:
            counters["bad_requests"] += 1
            return web.json_response(
                {"error": f"body not received within {body_timeout:g} s"}, status=408, headers={"Connection": "close"}
            )
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            return bad(f"body is not UTF-8 JSON: {err}")
        except RecursionError:
            return bad("body is nested too deeply")
        if not isinstance(body, dict):
            return bad("body must be a JSON object with query, prompts, labels")
        queries = body.get("query", body.get("queries"))
        prompts, labels = body.get("prompts"), body.get("labels")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return bad("'query' must be a list of strings")
        if len(queries) > max_samples:
            return bad(f"{len(queries)} samples in one request; at most {max_samples} (--serve.max_samples)")
        for name, value in (("prompts", prompts), ("labels", labels)):
            if value is not None and (not isinstance(value, list) or len(value) != len(queries)):
                return bad(f"'{name}' must be a list as long as 'query' ({len(queries)})")
        counters["samples"] += len(queries)
        prompts = prompts if prompts is not None else [""] * len(queries)
        labels = labels if labels is not None else [None] * len(queries)
        async with limit:
            out = await asyncio.to_thread(rewarder, queries, prompts, labels)
        return web.json_response(out)

    app = web.Application(client_max_size=int(max_body_mb * 2**20))
    app.router.add_get("/health", health)
    app.router.add_post("/{tail:.*}", reward)
    return app


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from aiohttp import web

    from openrlhf_weakness.assess.sandbox_tool import SandboxUnavailable
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.hooks.rewarder import Rewarder, RewardHookConfig

    serve = from_namespace(ServeConfig, args.serve)
    try:
        cfg = RewardHookConfig.from_flat(**vars(args.hook))
        rewarder = Rewarder(cfg)
    except (SettingsError, SandboxUnavailable) as err:  # SandboxUnavailable: no code sandbox and none not allowed
        raise CliError("serve_assessor", err)
    app = make_app(rewarder, serve.max_body_mb, serve.max_concurrent, serve.max_samples, serve.body_timeout)
    host, port = serve.host, serve.port
    print(
        f"serve_assessor: {cfg.assess.assessor} assessor on http://{host}:{port}/get_reward (health: /health)",
        flush=True,
    )
    if cfg.assess.assessor == "code":
        from openrlhf_weakness.hooks.rewarder import code_policy_line

        print(f"serve_assessor: {code_policy_line(cfg)}", flush=True)
    web.run_app(app, host=host, port=port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
