"""The reward hook through OpenRLHF's real SingleTurnAgentExecutor (file and HTTP paths), faults, and the ledger."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
import sys
import threading

import pytest

from openrlhf_weakness.data.labels import parse_label
from openrlhf_weakness.hooks.ledger import append_failures
from openrlhf_weakness.hooks.rewarder import Rewarder, RewardHookConfig, split_response
from openrlhf_weakness.testing.app_thread import AppThread

PROMPT = "<|im_start|>user\nWhat is 37 plus 48?<|im_end|>\n<|im_start|>assistant\n"


def _query(answer: str) -> str:
    return PROMPT + answer + "<|im_end|>"


def _hook_path() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.reward_hook_path"], capture_output=True, text=True
    )
    return out.stdout.strip()


def test_openrlhf_loads_the_shipped_hook_file_and_gets_rewards(monkeypatch, tmp_path):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("ORW_REWARD_LEDGER", str(ledger))
    monkeypatch.setenv("ORW_REWARD_DATASOURCES", "add,mul")
    executor = SingleTurnAgentExecutor(remote_rm_url=_hook_path())
    label = json.dumps({"answer": "85", "datasource": "add"})

    async def run():
        right = await executor._fetch_rewards_via_func([_query("So \\boxed{85}")], [PROMPT], [label])
        wrong = await executor._fetch_rewards_via_func([_query("It is 104")], [PROMPT], [label])
        return right[0], wrong[0]

    right, wrong = asyncio.run(run())
    assert right["rewards"].tolist() == [1.0] and wrong["rewards"].tolist() == [0.0]
    assert float(wrong["extra_logs"]["acc_add"]) == 0.5 and float(wrong["extra_logs"]["acc_mul"]) == 0.0
    rows = [json.loads(line) for line in open(ledger)]
    assert len(rows) == 1 and rows[0]["response"] == "It is 104" and rows[0]["datasource"] == "add"
    assert rows[0]["score"] == 1 and "process" in rows[0] and "time" in rows[0]


@pytest.fixture
def server():
    from openrlhf_weakness.cli.serve_assessor import make_app

    rewarder = Rewarder(RewardHookConfig.from_flat(assessor="math"))
    with AppThread(lambda: make_app(rewarder, max_body_mb=0.01, max_concurrent=4)) as app:
        yield app


def test_openrlhf_http_reward_path_against_serve_assessor(server):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=f"{server.url}/get_reward")
    out = asyncio.run(
        executor._fetch_rewards_via_http([_query("\\boxed{85}"), _query("12")], [PROMPT] * 2, ["85", "85"])
    )
    assert out[0]["rewards"] == [1.0, 0.0] and out[0]["extra_logs"]["hook_faults"] == 0.0


def test_serve_assessor_bad_bodies_get_4xx_and_it_keeps_serving(server):
    import requests

    url = f"{server.url}/get_reward"
    assert requests.post(url, data=b"x" * 20_000).status_code == 413  # over --serve.max_body_mb
    assert requests.post(url, data=b"{not json").status_code == 400
    assert requests.post(url, data=b'{"query": "\xff\xfe"}').status_code == 400  # not UTF-8
    assert requests.post(url, json={"query": ["a"], "labels": ["1", "2"]}).status_code == 400
    wrong_types = requests.post(
        url,
        json={
            "query": [_query("85"), _query(""), "q"],
            "prompts": [PROMPT, PROMPT, ""],
            "labels": [85, {"nothing": 1}, True],
        },
    )
    assert wrong_types.status_code == 200
    body = wrong_types.json()
    assert body["rewards"] == [1.0, 0.0, 0.0] and body["extra_logs"]["hook_faults"] == 2.0
    health = requests.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["bad_requests"] == 4 and health["requests"] == 5


def test_faults_give_fallback_rewards_for_every_sample_and_are_counted(tmp_path):
    raising = tmp_path / "score.py"
    raising.write_text("def score(p, r, ref):\n    if 'boom' in r:\n        raise RuntimeError('x')\n    return 1.0\n")
    rewarder = Rewarder(
        RewardHookConfig.from_flat(assessor="function", function_path=str(raising), fallback_reward=-1.0)
    )
    out = rewarder(["fine", "boom", "also fine"], ["", "", ""], ["a", "b", None])
    assert out["rewards"] == [1.0, -1.0, -1.0] and out["extra_logs"]["hook_faults"] == 2.0

    hanging = Rewarder(RewardHookConfig.from_flat(assessor="code", code_timeout=1.0, timeout=5.0))
    out = hanging(
        ["```python\nwhile True: pass\n```", "```python\ndef f():\n    return 1\n```"],
        ["", ""],
        ["assert f() == 1"] * 2,
    )
    assert out["rewards"] == [0.0, 1.0]  # the hang is a failed test, contained by the sandbox

    down = Rewarder(
        RewardHookConfig.from_flat(
            assessor="judge",
            judge_model="j",
            judge_base_url="http://127.0.0.1:9/v1",
            judge_timeout=0.5,
            fallback_reward=0.25,
        )
    )
    out = down(["answer one", "answer two"], ["q", "q"], ["ref", "ref"])
    assert out["rewards"] == [0.25, 0.25] and out["extra_logs"]["hook_faults"] == 2.0


def test_hook_is_safe_from_many_threads():
    rewarder = Rewarder(RewardHookConfig.from_flat(assessor="math", datasources="add"))
    results = []

    def worker(k: int):
        for _ in range(10):
            answer = "\\boxed{85}" if k % 2 else "\\boxed{1}"
            results.append(rewarder([_query(answer)], [PROMPT], [json.dumps({"answer": "85", "datasource": "add"})]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and sum(r["rewards"][0] for r in results) == 40.0


def test_label_and_response_parsing():
    assert parse_label('{"answer": "3", "skill": "fractions"}') == ("3", "fractions")
    assert parse_label(7) == ("7", "") and parse_label(["assert f(1) == 2"]) == (["assert f(1) == 2"], "")
    for bad in (None, True, {"x": 1}):
        with pytest.raises(ValueError):
            parse_label(bad)
    assert split_response(_query("The answer is 5"), PROMPT) == "The answer is 5"
    assert split_response("no prompt inside </s>", "other") == "no prompt inside"


def _write_many(path: str, worker: int) -> None:
    for i in range(0, 1000, 10):
        append_failures(path, [{"worker": worker, "i": i + j, "text": "x" * (i % 97)} for j in range(10)])


def test_ledger_under_eight_concurrent_writer_processes(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(path, w)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    rows = [json.loads(line) for line in open(path)]  # every line parses: none interleaved
    assert len(rows) == 8000
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(8) for i in range(1000)]


def test_ledger_rows_become_pairs(tmp_path):
    from openrlhf_weakness.cli import build_pairs

    ledger = tmp_path / "ledger.jsonl"
    rewarder = Rewarder(RewardHookConfig.from_flat(assessor="math", ledger=str(ledger)))
    rewarder(
        [_query("It is 104"), _query("\\boxed{85}")],
        [PROMPT] * 2,
        [json.dumps({"answer": "85", "datasource": "add"})] * 2,
    )
    build_pairs.main(
        ["--data.bad", str(ledger), "--data.reference_key", "label", "--data.output", str(tmp_path / "p.jsonl")]
    )
    pairs = [json.loads(line) for line in open(tmp_path / "p.jsonl")]
    assert len(pairs) == 1 and pairs[0]["chosen"] == "85" and pairs[0]["rejected"] == "It is 104"
    assert pairs[0]["prompt"] == PROMPT and pairs[0]["source"] == "bad"


def test_hook_settings_are_the_assessor_and_judge_configs_under_their_flat_names(tmp_path, caplog):
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.cli.serve_assessor import build_parser
    from openrlhf_weakness.config import nested
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.hooks.rewarder import load_hook_config

    default = load_hook_config({})
    assert default.assess == AssessConfig()  # one declaration: the hook's assessor defaults are cli.assess's
    assert default.judge.parse_retries == RoleConfig().parse_retries == 2
    assert (default.judge.backend, default.judge.no_cache_enable, default.judge.max_retries) == ("openai", True, 1)
    (tmp_path / "hook.json").write_text(json.dumps({"bad_below": 2, "judge_rubric": "math"}))
    env = {
        "ORW_REWARD_CONFIG": str(tmp_path / "hook.json"),
        "ORW_REWARD_ASSESSOR": "judge",
        "ORW_REWARD_TIMEOUT": "12.5",
        "ORW_REWARD_WORKERS": "3",  # the old name of num_workers
        "ORW_REWARD_JUDGE_MODEL": "j",
        "ORW_REWARD_JUDGE_PARSE_RETRIES": "0",
        "ORW_REWARD_LEDGER": "l.jsonl",
    }
    with caplog.at_level("WARNING", logger="openrlhf_weakness"):
        cfg = load_hook_config(env)
    assert (cfg.assess.assessor, cfg.assess.bad_below, cfg.assess.judge_rubric) == ("judge", 2, "math")
    assert (cfg.assess.timeout, cfg.assess.num_workers, cfg.ledger) == (12.5, 3, "l.jsonl")
    assert (cfg.judge.model, cfg.judge.parse_retries, cfg.judge.backend) == ("j", 0, "openai")
    assert "workers (ORW_REWARD_WORKERS, --hook.workers) is deprecated" in caplog.text
    with pytest.raises(SettingsError, match="unknown reward hook settings \\['judge_backend'\\]"):
        RewardHookConfig.from_flat(judge_backend="hf")  # the hook fixes the judge's backend

    args = nested(
        build_parser().parse_args(["--hook.assessor", "math", "--hook.workers", "4", "--hook.judge_seed", "7"])
    )
    flags = RewardHookConfig.from_flat(**vars(args.hook))
    assert (flags.assess.num_workers, flags.judge.seed, flags.judge.timeout) == (4, 7, 60.0)
