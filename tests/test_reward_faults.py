"""The reward path under load and hangs: a sample that never ends costs only itself, and every call ends in time."""

from __future__ import annotations

import json
import random
import socket
import threading
import time

import pytest

from openrlhf_weakness.assess.code_sandbox import run_sandboxed
from openrlhf_weakness.hooks.rewarder import Rewarder, RewardHookConfig
from openrlhf_weakness.testing.app_thread import AppThread

BOMB = "9^9^9^9"  # math-verify evaluates it for minutes, holding the interpreter lock


def test_a_hanging_math_answer_gets_the_fallback_and_the_others_their_rewards():
    rewarder = Rewarder(RewardHookConfig.from_flat(timeout=2.0, queue_margin=5.0, num_workers=2, fallback_reward=-0.5))
    try:
        start = time.monotonic()
        out = rewarder([BOMB, "\\boxed{4}", "\\boxed{5}"], ["", "", ""], ["4", "4", "4"])
        elapsed = time.monotonic() - start
        after = rewarder(["\\boxed{4}"], [""], ["4"])  # the killed worker was replaced
    finally:
        rewarder.close()
    assert out["rewards"] == [-0.5, 1.0, 0.0]
    assert out["extra_logs"]["hook_timeouts"] == 1.0 and out["extra_logs"]["hook_faults"] == 1.0
    assert elapsed < 2.0 + 5.0
    assert after["rewards"] == [1.0]


def test_1000_mixed_samples_from_16_threads_every_correct_answer_rewarded():
    timeout, margin = 2.0, 10.0
    rewarder = Rewarder(RewardHookConfig.from_flat(timeout=timeout, queue_margin=margin, num_workers=4))
    rng = random.Random(0)
    samples = []
    for i in range(1000):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        kind = "bomb" if i % 125 == 7 else rng.choice(["right", "wrong", "garbage"])
        answer = {
            "right": f"\\boxed{{{a + b}}}",
            "wrong": f"\\boxed{{{a + b + 1}}}",
            "garbage": "no idea",
            "bomb": BOMB,
        }[kind]
        samples.append((kind, answer, str(a + b)))
    results: dict[int, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(indices):
        for start in range(0, len(indices), 4):  # OpenRLHF calls with a few samples at a time
            chunk = indices[start : start + 4]
            began = time.monotonic()
            out = rewarder([samples[i][1] for i in chunk], [""] * len(chunk), [samples[i][2] for i in chunk])
            with lock:
                latencies.append(time.monotonic() - began)
                results.update(zip(chunk, out["rewards"]))

    threads = [threading.Thread(target=worker, args=(list(range(k, 1000, 16)),)) for k in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        rewarder.close()
    assert len(results) == 1000
    by_kind = {
        kind: [results[i] for i, s in enumerate(samples) if s[0] == kind] for kind in ("right", "wrong", "bomb")
    }
    assert by_kind["right"] and all(r == 1.0 for r in by_kind["right"])  # none starved to the fallback
    assert all(r == 0.0 for r in by_kind["wrong"]) and all(r == 0.0 for r in by_kind["bomb"])
    assert max(latencies) < timeout + margin + 1.0


def test_output_flood_is_capped_and_killed_at_the_deadline():
    start = time.monotonic()
    result = run_sandboxed("while True:\n    print('x' * 65536)", timeout=2.0, output_cap=4096)
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and result.truncated and not result.passed
    assert len(result.output) <= 2000 + 100 and "output truncated" in result.output
    assert elapsed < 4.0


def test_a_program_that_writes_a_lot_then_passes_still_passes_with_truncation_noted():
    result = run_sandboxed(
        "print('y' * 200000)\ndef add(a, b):\n    return a + b", "assert add(1, 2) == 3", timeout=5.0, output_cap=1024
    )
    assert result.passed and result.truncated and "output truncated" in result.output


@pytest.fixture
def server():
    from openrlhf_weakness.cli.serve_assessor import make_app

    rewarder = Rewarder(RewardHookConfig.from_flat(assessor="math", timeout=3.0, num_workers=2))
    with AppThread(lambda: make_app(rewarder, max_samples=8, body_timeout=1.0)) as app:
        app.rewarder = rewarder
        yield app
    rewarder.close()


def test_server_stays_healthy_while_a_sample_hangs(server):
    import requests

    url = f"{server.url}/get_reward"
    hung = {}
    thread = threading.Thread(
        target=lambda: hung.update(requests.post(url, json={"query": [BOMB], "labels": ["4"]}, timeout=30).json())
    )
    thread.start()
    time.sleep(0.5)
    began = time.monotonic()
    health = requests.get(f"{server.url}/health", timeout=5)
    assert health.status_code == 200 and time.monotonic() - began < 1.0
    right = requests.post(url, json={"query": ["\\boxed{4}"], "labels": ["4"]}, timeout=30).json()
    assert right["rewards"] == [1.0]
    thread.join(30)
    assert hung["rewards"] == [0.0] and hung["extra_logs"]["hook_timeouts"] == 1.0


def test_server_refuses_deep_nesting_too_many_samples_and_slow_bodies(server):
    import requests

    url = f"{server.url}/get_reward"
    deep = '{"query": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = requests.post(url, data=deep.encode())
    assert response.status_code == 400 and "nested" in response.json()["error"]
    response = requests.post(url, json={"query": ["1"] * 9, "labels": ["1"] * 9})
    assert response.status_code == 400 and "at most 8" in response.json()["error"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b'{"query": [')
        slow.settimeout(10)
        reply = slow.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 408")
    assert requests.get(f"{server.url}/health").json()["status"] == "ok"


def test_nan_and_infinity_are_refused_on_read_and_write(tmp_path):
    from openrlhf_weakness.io import DataError, iter_jsonl, write_jsonl

    path = tmp_path / "scores.jsonl"
    path.write_text('{"a": 1}\n{"a": NaN}\n')
    with pytest.raises(DataError, match=r"scores.jsonl, line 2: NaN is not JSON"):
        list(iter_jsonl(path))
    with pytest.raises(ValueError):
        write_jsonl(tmp_path / "out.jsonl", [{"score": float("inf")}])
    assert not (tmp_path / "out.jsonl").exists()
    path.write_text(json.dumps({"a": 1}) + "\n" + '{"a": 1, "a": 2}\n')
    with pytest.raises(DataError, match=r"line 2, key 'a': appears twice"):
        list(iter_jsonl(path))


def test_deep_or_huge_labels_fail_alone_and_a_dead_pool_is_replaced():
    rewarder = Rewarder(RewardHookConfig.from_flat(assessor="math", timeout=5.0, queue_margin=5.0, num_workers=2))
    try:
        began = time.monotonic()
        first = rewarder(["\\boxed{\\frac{1}{2}}"], [""], ["1/2"])  # workers were warmed before this first call
        first_seconds = time.monotonic() - began
        deep = json.dumps({"answer": json.loads("[" * 500 + "]" * 500)})
        out = rewarder(
            ["\\boxed{x}", "\\boxed{\\frac{1}{2}}", "\\boxed{y}"], ["", "", ""], [deep, "1/2", "z" * (9 << 20)]
        )
        assert out["rewards"] == [0.0, 1.0, 0.0] and out["extra_logs"]["hook_faults"] == 2.0
        assert rewarder.health() == {"pool": "ok", "workers": 2, "pools_replaced": 0}
        rewarder.assessor._pool.stop()  # as if its scheduler thread had died
        rewarder.assessor._pool.join(timeout=5)
        assert rewarder.health()["pool"] == "down"
        healed = rewarder(["\\boxed{\\frac{1}{2}}", "\\boxed{\\frac{1}{3}}"], ["", ""], ["1/2", "1/2"])
        assert healed["rewards"] == [1.0, 0.0] and healed["extra_logs"]["hook_faults"] == 0.0
        assert rewarder.health() == {"pool": "ok", "workers": 2, "pools_replaced": 1}
    finally:
        rewarder.close()
    assert first["rewards"] == [1.0] and first_seconds < 5.0 + 2.0


def test_check_item_names_the_bound():
    from openrlhf_weakness.assess.base import Item
    from openrlhf_weakness.assess.isolated import ItemTooLarge, check_item

    with pytest.raises(ItemTooLarge, match="nested deeper than 32"):
        check_item(Item("", "a", json.loads("[" * 40 + "]" * 40)))
    with pytest.raises(ItemTooLarge, match="at most 8388608"):
        check_item(Item("", "a" * (9 << 20), "1"))
    with pytest.raises(ItemTooLarge, match="cannot be sent to a worker"):
        check_item(Item("", "a", [lambda: 1]))
    check_item(Item("", "a", {"answer": [[1, 2], [3]]}))


def test_health_reports_a_down_pool_and_the_next_request_heals_it(server):
    import requests

    assert requests.get(f"{server.url}/health").json()["pool"] == "ok"
    server.rewarder.assessor._pool.stop()
    server.rewarder.assessor._pool.join(timeout=5)
    down = requests.get(f"{server.url}/health")
    assert down.status_code == 503 and down.json()["status"] == "degraded"
    out = requests.post(f"{server.url}/get_reward", json={"query": ["\\boxed{\\frac{1}{2}}"], "labels": ["1/2"]})
    assert out.json()["rewards"] == [1.0]
    healed = requests.get(f"{server.url}/health").json()
    assert healed["status"] == "ok" and healed["pools_replaced"] == 1
