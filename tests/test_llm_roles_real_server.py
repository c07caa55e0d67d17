"""Every LLM role against a real OpenAI-compatible server: ``transformers serve`` on 127.0.0.1 serving
SmolLM2-135M-Instruct (from the offline package) on CPU. This small model is a stand-in that writes real, messy output
(prose around scores, missing tags); the stages must finish and count what parsed, what was retried, what was not."""

from __future__ import annotations

import json
import re

import pytest

from openrlhf_weakness.io import write_jsonl

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def smollm_server(smollm_dir):
    from openrlhf_weakness.demo.student import student_model
    from openrlhf_weakness.testing.transformers_server import TransformersServer

    with TransformersServer(student_model(smollm_dir), smollm_dir / "serve.log") as server:
        yield server


def _role_flags(role: str, server, max_new_tokens: int) -> list[str]:
    return [
        f"--{role}.backend",
        "openai",
        f"--{role}.base_url",
        server.base_url,
        f"--{role}.model",
        server.model,
        f"--{role}.max_new_tokens",
        str(max_new_tokens),
        f"--{role}.parse_retries",
        "1",
        f"--{role}.max_in_flight",
        "2",
    ]


def _consistent(report: dict, requests: int) -> None:
    assert report["requests"] == requests
    assert report["parsed_first"] + report["retried"] == requests
    assert report["recovered"] + report["unparsed"] == report["retried"]


def test_real_judge_scores_answers_in_cli_assess_and_never_invents_a_score(smollm_server, tmp_path):
    from openrlhf_weakness.cli import assess

    rows = [
        {"prompt": f"What is {a} plus {b}?", "response": f"{a} + {b} = {a + b + i}.", "reference": str(a + b)}
        for i, (a, b) in enumerate([(2, 3), (4, 4)])
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    argv = [
        "--data.dataset",
        str(tmp_path / "in.jsonl"),
        "--data.output",
        str(tmp_path / "out.jsonl"),
        "--assess.assessor",
        "judge",
        "--assess.judge_rubric",
        "math",
        *_role_flags("judge", smollm_server, 64),
    ]
    assert assess.main(argv) == 0
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    report = summary["judge_parse"]
    _consistent(report, 2)
    out = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    parsed = report["parsed_first"] + report["recovered"]
    assert sum(r["score"] is not None for r in out) == parsed == summary["scored"]
    for r in out:
        assert r["score"] in (1, 2, 3, 4, 5) or "unscored after 1 retries" in r["feedback"]


@pytest.mark.slow
def test_real_tagger_tags_a_pool_in_cli_retrieve(smollm_server, tmp_path):
    from openrlhf_weakness.cli import retrieve

    pool = [
        {"prompt": q}
        for q in [
            "What is 12 plus 30?",
            "Name the capital of France.",
            "Sort 3, 1, 2.",
            "What is 9 times 7?",
            "Write a haiku about rain.",
            "What is 100 minus 1?",
        ]
    ]
    write_jsonl(tmp_path / "pool.jsonl", pool)
    write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "What is 5 plus 8?", "bad": True}])
    argv = [
        "--data.bad",
        str(tmp_path / "bad.jsonl"),
        "--data.pool",
        str(tmp_path / "pool.jsonl"),
        "--data.output",
        str(tmp_path / "similar.jsonl"),
        "--retrieve.tagger",
        "llm",
        "--retrieve.cache_dir",
        str(tmp_path / "emb"),
        *_role_flags("tagger", smollm_server, 48),
    ]
    assert retrieve.main(argv) == 0
    summary = json.loads((tmp_path / "similar.jsonl.summary.json").read_text())
    _consistent(summary["tagger_parse"], 7)
    assert summary["retrieved"] >= 1


@pytest.mark.slow
def test_real_teacher_runs_every_stat_stage(smollm_server, tiny_model, tmp_path):
    from openrlhf_weakness.cli import stat

    train = [
        {"input": f"What is {i} plus {i + 2}?", "output": f"{i} + {i + 2} = \\boxed{{{2 * i + 2}}}"} for i in range(4)
    ]
    train += [{"input": f"What is {i + 9} minus {i}?", "output": "\\boxed{9}"} for i in range(4)]
    dev = [{"input": "What is 7 plus 8?", "reference": "15"}, {"input": "What is 9 minus 4?", "reference": "5"}]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "dev.jsonl", dev)
    run = tmp_path / "run"
    argv = [
        "--data.train",
        str(tmp_path / "train.jsonl"),
        "--data.dev",
        str(tmp_path / "dev.jsonl"),
        "--stat.run_dir",
        str(run),
        "--gen.model",
        str(tiny_model),
        "--gen.max_new_tokens",
        "4",
        "--stat.k",
        "2",
        "--stat.size",
        "8",
        "--stat.syn_enable",
        "--stat.syn_per_pair",
        "1",
        "--stat.syn_solutions",
        "2",
        *_role_flags("teacher", smollm_server, 96),
    ]
    try:
        code = stat.main(argv)
    except SystemExit as stop:  # a 135M teacher may name no usable missing skill: STAT stops with one line
        code = stop.code
    assert code in (0, 2)
    assert json.loads((run / "skills.json").read_text())["skills"]  # a skill list came out of real prose
    _consistent(json.loads((run / "labels.parse.json").read_text()), len(train))
    _consistent(json.loads((run / "missing.parse.json").read_text()), 2)
    if code == 0:
        final = json.loads((run / "final.json").read_text())
        assert set(final["parse"]) == {"labels", "missing"} and "stat_syn_rows" in final


@pytest.mark.slow
def test_real_judge_scores_the_student_inside_cli_apt(smollm_server, tiny_model, tmp_path):
    """One iteration of cli.apt with the tiny student and SmolLM2 as judge: every answer gets a 1-5 score or is left
    unscored (never a default), and the run finishes with the loop's own stop reason."""
    import subprocess
    import sys

    rows = [{"prompt": f"What is {a} plus {a}?", "reference": str(2 * a)} for a in range(3)]
    for name in ("train", "pool", "dev"):
        write_jsonl(tmp_path / f"{name}.jsonl", rows)
    run = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "openrlhf_weakness.cli.apt",
        "--loop.model",
        str(tiny_model),
        "--loop.run_dir",
        str(run),
        "--loop.iterations",
        "1",
        "--data.train",
        str(tmp_path / "train.jsonl"),
        "--data.pool",
        str(tmp_path / "pool.jsonl"),
        "--data.dev",
        str(tmp_path / "dev.jsonl"),
        "--gen.max_new_tokens",
        "8",
        "--assess.assessor",
        "judge",
        *_role_flags("judge", smollm_server, 64),
        "--",
        "--train.micro_batch_size",
        "2",
        "--train.batch_size",
        "2",
        "--data.max_len",
        "64",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scored = [json.loads(line) for line in open(run / "iter_0" / "scored.jsonl")]
    assert len(scored) == 3
    for r in scored:
        assert r["score"] in (1, 2, 3, 4, 5) or (r["score"] is None and "unscored after 1 retries" in r["feedback"])
        assert r["bad"] == (r["score"] is not None and r["score"] < 4)  # unscored is never a bad case
    final = json.loads((run / "final.json").read_text())
    assert final["stopped"] in ("no bad cases left", "finished 1 iteration(s)")
    assert (run / "cache").is_dir()  # the judge's replies are kept: a rerun does not ask again
