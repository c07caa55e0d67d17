"""Any OpenAI-compatible chat server (vLLM serve, SGLang, a hosted API): bounded requests in flight, per-request
timeouts, retries with exponential backoff on 429/5xx/timeouts/malformed replies, and an immediate clear error on 4xx.
"""

from __future__ import annotations

import asyncio
import json
import os
import random

from openrlhf_weakness.backends.base import OnResult, Prompt, as_messages
from openrlhf_weakness.backends.config import GenerationConfig, SamplingParams

JSON_HEADERS = {"Content-Type": "application/json"}


class OpenAIServerError(RuntimeError):
    """A request to an OpenAI-compatible server failed for good. What was answered before stays in the response
    cache, so a rerun of the same command asks only for the rest."""

    RESUME_HINT = "; the replies received so far are in the response cache: rerun the same command to go on"


class OpenAIClientError(OpenAIServerError):
    """The server refused the request (4xx other than 429): retrying would not help."""


class OpenAIRetriesExhausted(OpenAIServerError):
    """A request kept failing (429/5xx/timeout/malformed reply) after every retry."""


def check_server(base_url: str, timeout: float = 10.0) -> None:
    """Raise :class:`OpenAIClientError` naming ``base_url`` when nothing answers there (checked before any work, so a
    wrong URL or a server still loading stops a run at once). Any HTTP reply, even 401 or 404, counts as up."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise OpenAIClientError(f"no OpenAI-compatible server answers at {base_url} ({reason})") from None


def check_servers(roles: dict) -> None:
    """``check_server`` for every role (``{"--judge": cfg}``) that talks to a server; the error names the flag."""
    for flag_prefix, cfg in roles.items():
        if cfg is not None and cfg.backend == "openai" and cfg.model:
            try:
                check_server(cfg.base_url)
            except OpenAIClientError as err:
                raise OpenAIClientError(f"{flag_prefix}.base_url: {err}") from None


def has_system(body: bytes) -> bool:
    return any(m.get("role") == "system" for m in json.loads(body)["messages"])


def fold_system_message(messages: list) -> list:
    """The system message as the start of the first user message, for chat templates that refuse a system role."""
    if not messages or messages[0].get("role") != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for m in rest:
        if m.get("role") == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


class OpenAIBackend:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_in_flight: int = 16,
        timeout: float = 120.0,
        max_retries: int = 5,
        retry_backoff: float = 1.0,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.model_id = model, f"openai:{base_url.rstrip('/')}:{model}"
        self.api_key, self.max_in_flight, self.timeout = api_key, max_in_flight, timeout
        self.max_retries, self.retry_backoff = max_retries, retry_backoff
        self.retries = 0  # retried requests in the last generate() call, for reports and tests
        self.fold_system = False  # set once the server refused a system message: later requests fold it in
        self.extra_body: dict = {}  # server-specific request fields (vLLM's structured_outputs)

    @classmethod
    def from_config(cls, cfg: GenerationConfig) -> "OpenAIBackend":
        return cls(
            cfg.base_url,
            cfg.model,
            os.environ.get(cfg.api_key_env),
            cfg.max_in_flight,
            cfg.timeout,
            cfg.max_retries,
            cfg.retry_backoff,
        )

    def generate(self, prompts: list[Prompt], params: SamplingParams, on_result: OnResult) -> None:
        asyncio.run(self._generate(prompts, params, on_result))

    async def _generate(self, prompts, params, on_result) -> None:
        import aiohttp

        self.retries = 0
        limit = asyncio.Semaphore(self.max_in_flight)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        connector = aiohttp.TCPConnector(limit=self.max_in_flight)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def one(i: int) -> None:
                async with limit:
                    on_result(i, await self._request(session, prompts[i], params))

            tasks = [asyncio.create_task(one(i)) for i in range(len(prompts))]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _body(self, prompt: Prompt, params: SamplingParams) -> dict:
        messages = as_messages(prompt)
        return {
            "model": self.model,
            "messages": fold_system_message(messages) if self.fold_system else messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
            "seed": params.seed,
            **self.extra_body,
        }

    async def _request(self, session, prompt: Prompt, params: SamplingParams) -> list[str]:
        import aiohttp

        body, problem, retry_after = json.dumps(self._body(prompt, params)).encode(), "", None
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
                delay = self.retry_backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
                await asyncio.sleep(min(delay, 30.0) if retry_after is None else retry_after)
            retry_after = None
            try:
                async with session.post(self.url, data=body, headers=JSON_HEADERS, timeout=timeout) as resp:
                    raw = await resp.read()
                    if resp.status == 200:
                        answers = _parse_choices(raw, params.n)
                        if answers is not None:
                            return answers
                        problem = f"malformed reply: {raw[:200]!r}"
                        continue
                    text = raw.decode("utf-8", errors="replace")
                    if resp.status == 429 or resp.status >= 500:
                        problem = f"HTTP {resp.status}: {' '.join(text[:200].split())}"
                        retry_after = _retry_after(resp.headers.get("Retry-After"))
                    elif resp.status == 400 and "system" in text.lower() and has_system(body):
                        self.fold_system = True  # the model's chat template has no system role: fold it in
                        return await self._request(session, prompt, params)  # its body has no system message
                    else:
                        raise OpenAIClientError(
                            f"{self.url} refused the request with HTTP {resp.status}: {' '.join(text[:500].split())}"
                        )
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                problem = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise OpenAIRetriesExhausted(f"{self.url}: still failing after {self.max_retries} retries ({problem})")


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None


def _parse_choices(text: str | bytes, n: int) -> list[str] | None:
    """The ``n`` answer texts of a chat-completions reply, or None when the reply is not one."""
    try:
        data = json.loads(text)
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        answers = [c["message"]["content"] for c in choices]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(answers) != n or not all(isinstance(a, str) for a in answers):
        return None
    return answers
