"""The openai backend against a real OpenAI-compatible HTTP server on 127.0.0.1 with scripted faults."""

from __future__ import annotations

import time

import pytest

from openrlhf_weakness.backends.cache import ResponseCache
from openrlhf_weakness.backends.config import SamplingParams
from openrlhf_weakness.backends.driver import generate_all
from openrlhf_weakness.backends.openai_compat import OpenAIBackend, OpenAIClientError, OpenAIRetriesExhausted
from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer

PARAMS = SamplingParams(max_new_tokens=16)


def _backend(server, **kw):
    opts = dict(max_in_flight=4, timeout=2.0, max_retries=4, retry_backoff=0.01)
    opts.update(kw)
    return OpenAIBackend(server.base_url, "scripted", **opts)


def test_answers_in_order_with_bounded_requests_in_flight():
    prompts = [f"question {i}" for i in range(24)]
    with ScriptedOpenAIServer(latency=0.05) as server:
        answers, _ = generate_all(_backend(server), prompts, PARAMS)
        assert server.max_concurrent <= 4 and server.max_concurrent >= 3
    assert answers == [[f"echo: {p}"] for p in prompts]


def test_n_answers_and_chat_messages_pass_through():
    with ScriptedOpenAIServer() as server:
        answers, _ = generate_all(_backend(server), [[{"role": "user", "content": "hi"}]], SamplingParams(n=3))
    assert answers == [["echo: hi"] * 3]


def test_429_500_malformed_and_hangs_are_retried_until_answered():
    prompts = ["fail429:2:a", "fail500:2:b", "malformed:1:c", "hang:1:d", "plain"]
    with ScriptedOpenAIServer(hang_seconds=5) as server:
        backend = _backend(server, timeout=0.5)
        start = time.time()
        answers, _ = generate_all(backend, prompts, PARAMS)
        assert time.time() - start < 4  # the hang cost one timeout, not five seconds
        assert server.seen["fail429:2:a"] == 3 and server.seen["fail500:2:b"] == 3 and server.seen["hang:1:d"] == 2
    assert answers == [[f"echo: {p}"] for p in prompts]
    assert backend.retries == 2 + 2 + 1 + 1


def test_4xx_fails_at_once_with_the_servers_message():
    with ScriptedOpenAIServer() as server:
        start = time.time()
        with pytest.raises(OpenAIClientError, match="HTTP 400.*bad request: scripted"):
            generate_all(_backend(server), ["reject400 please"], PARAMS)
        assert time.time() - start < 1 and server.seen["reject400 please"] == 1


def test_retries_are_bounded():
    with ScriptedOpenAIServer() as server:
        with pytest.raises(OpenAIRetriesExhausted, match="after 2 retries.*HTTP 500"):
            generate_all(_backend(server, max_retries=2), ["fail500:99:x"], PARAMS)
        assert server.seen["fail500:99:x"] == 3


def test_answers_before_a_failure_are_kept_in_the_cache(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    prompts = ["one", "two", "three", "fail500:99:broken"]
    with ScriptedOpenAIServer() as server:
        with pytest.raises(OpenAIRetriesExhausted):
            generate_all(_backend(server, max_retries=1, max_in_flight=1), prompts, PARAMS, cache)
        _, hits = generate_all(_backend(server), prompts[:3], PARAMS, cache)
        assert hits == 3 and server.seen["one"] == 1  # the rerun paid nothing twice


def test_a_server_that_is_down_is_a_clear_error():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "nobody", timeout=0.5, max_retries=1, retry_backoff=0.01)
    with pytest.raises(OpenAIRetriesExhausted, match="ClientConnectorError|Cannot connect"):
        generate_all(backend, ["hello"], PARAMS)
