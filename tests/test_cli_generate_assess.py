"""The generate and assess CLIs: JSON Lines in and out, cache reuse, summaries, and bad input."""

from __future__ import annotations

import json

import pytest

from openrlhf_weakness.cli import assess, generate
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer


def _read(path):
    return [json.loads(line) for line in open(path)]


def test_generate_with_hf_then_rerun_comes_from_the_cache(tiny_model, tmp_path, capsys):
    rows = [{"question": f"What is {i} plus 1?", "datasource": "add"} for i in range(5)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    argv = [
        "--data.dataset",
        str(tmp_path / "in.jsonl"),
        "--data.output",
        str(tmp_path / "out.jsonl"),
        "--data.input_key",
        "question",
        "--gen.model",
        str(tiny_model),
        "--gen.max_new_tokens",
        "6",
        "--gen.chat_template_enable",
        "--gen.cache_dir",
        str(tmp_path / "cache"),
    ]
    assert generate.main(argv) == 0
    first = _read(tmp_path / "out.jsonl")
    assert [r["question"] for r in first] == [r["question"] for r in rows]
    assert all(isinstance(r["response"], str) and r["datasource"] == "add" for r in first)
    assert "5 prompts answered (0 from cache)" in capsys.readouterr().out
    assert generate.main(argv) == 0
    assert "5 prompts answered (5 from cache)" in capsys.readouterr().out
    assert _read(tmp_path / "out.jsonl") == first


def test_generate_through_openai_with_n_answers(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "hi"}, {"prompt": [{"role": "user", "content": "yo"}]}])
    with ScriptedOpenAIServer() as server:
        generate.main(
            [
                "--data.dataset",
                str(tmp_path / "in.jsonl"),
                "--data.output",
                str(tmp_path / "out.jsonl"),
                "--gen.backend",
                "openai",
                "--gen.base_url",
                server.base_url,
                "--gen.model",
                "m",
                "--gen.n",
                "2",
                "--gen.no_cache_enable",
            ]
        )
    out = _read(tmp_path / "out.jsonl")
    assert out[0]["response"] == "echo: hi" and out[1]["responses"] == ["echo: yo", "echo: yo"]


def _assess_argv(tmp_path, *extra):
    return ["--data.dataset", str(tmp_path / "in.jsonl"), "--data.output", str(tmp_path / "out.jsonl"), *extra]


def test_assess_math_writes_scores_and_a_summary_by_datasource(tmp_path, capsys):
    rows = [
        {"prompt": "1+1", "response": "\\boxed{2}", "reference": "2", "datasource": "add"},
        {"prompt": "2+2", "response": "5", "reference": "4", "datasource": "add"},
        {"prompt": "3*3", "response": "9", "reference": "9", "datasource": "mul"},
        {"prompt": "3*4", "response": "", "reference": "12", "datasource": "mul"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    assert assess.main(_assess_argv(tmp_path)) == 0
    out = _read(tmp_path / "out.jsonl")
    assert [r["score"] for r in out] == [5, 1, 5, 1] and [r["bad"] for r in out] == [False, True, False, True]
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert summary["bad_rate"] == 0.5 and summary["histogram"] == {"1": 2, "2": 0, "3": 0, "4": 0, "5": 2}
    assert summary["by_datasource"]["add"]["bad"] == 1 and summary["empty_responses"] == 1
    printed = capsys.readouterr().out
    assert "add" in printed and "mul" in printed and "50.0%" in printed


def test_assess_bad_below_flag_changes_what_is_bad(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("def score(p, r, ref):\n    return float(r)\n")
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response": r, "reference": "x"} for r in ("2", "3", "1")])
    assess.main(
        _assess_argv(
            tmp_path,
            "--assess.assessor",
            "function",
            "--assess.function_path",
            str(path),
            "--assess.function_scale",
            "five",
            "--assess.bad_below",
            "2",
        )
    )
    assert [r["bad"] for r in _read(tmp_path / "out.jsonl")] == [False, False, True]


def test_assess_missing_key_names_file_line_key_or_is_a_counted_skip(tmp_path, capsys):
    rows = [{"prompt": "1+1", "response": "2", "reference": "2"}, {"prompt": "2+2", "response": "4"}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(SystemExit, match=r"in.jsonl, line 2, key 'reference': missing"):
        assess.main(_assess_argv(tmp_path))
    assert not (tmp_path / "out.jsonl").exists()
    assert assess.main(_assess_argv(tmp_path, "--assess.skip_bad_rows_enable")) == 0
    assert len(_read(tmp_path / "out.jsonl")) == 1
    assert "input rows skipped: 1" in capsys.readouterr().out


def test_assess_non_utf8_line_is_named(tmp_path):
    good = json.dumps({"prompt": "1+1", "response": "2", "reference": "2"}).encode()
    (tmp_path / "in.jsonl").write_bytes(good + b"\n" + b'{"prompt": "\xff\xfe"}\n' + good + b"\n")
    with pytest.raises(SystemExit, match=r"line 2: not UTF-8"):
        assess.main(_assess_argv(tmp_path))
    assert assess.main(_assess_argv(tmp_path, "--assess.skip_bad_rows_enable")) == 0
    assert len(_read(tmp_path / "out.jsonl")) == 2


def test_assess_judge_garbage_is_retried_then_unscored_never_a_default_score(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a", "reference": "a"}] * 2)
    with ScriptedOpenAIServer(answer_fn=lambda m: "no verdict") as server:
        assess.main(
            _assess_argv(
                tmp_path,
                "--assess.assessor",
                "judge",
                "--judge.backend",
                "openai",
                "--judge.base_url",
                server.base_url,
                "--judge.model",
                "judge",
                "--judge.no_cache_enable",
                "--judge.parse_retries",
                "2",
            )
        )
        assert server.requests == 2 + 2 * 2  # each reply asked again twice
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert summary["skipped"] == 2 and summary["scored"] == 0
    assert summary["judge_parse"] == {
        "role": "judge",
        "requests": 2,
        "parsed_first": 0,
        "retried": 2,
        "recovered": 0,
        "unparsed": 2,
    }
    rows = _read(tmp_path / "out.jsonl")
    assert [r["score"] for r in rows] == [None, None]
    assert rows[0]["feedback"] == "judge output has no [RESULT] score (unscored after 2 retries)"


def test_assess_judge_reply_recovered_by_a_retry_is_scored(tmp_path):
    from openrlhf_weakness.assess.judge import REMINDER

    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a", "reference": "a"}])
    answer = {REMINDER: "Feedback: matches the reference. [RESULT] 5"}
    with ScriptedOpenAIServer(answer_fn=lambda m: answer.get(m, "I think it is fine.")) as server:
        assess.main(
            _assess_argv(
                tmp_path,
                "--assess.assessor",
                "judge",
                "--judge.backend",
                "openai",
                "--judge.base_url",
                server.base_url,
                "--judge.model",
                "judge",
                "--judge.no_cache_enable",
            )
        )
    assert [r["score"] for r in _read(tmp_path / "out.jsonl")] == [5]
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert (summary["judge_parse"]["retried"], summary["judge_parse"]["recovered"]) == (1, 1)


@pytest.mark.parametrize(
    "module, argv",
    [
        ("assess", ["--data.dataset", "{missing}", "--data.output", "{out}"]),
        ("generate", ["--data.dataset", "{missing}", "--data.output", "{out}", "--gen.model", "m"]),
        ("build_pairs", ["--data.bad", "{missing}", "--data.output", "{out}"]),
        ("retrieve", ["--data.bad", "{missing}", "--data.pool", "{missing}", "--data.output", "{out}"]),
        ("stat", ["--data.train", "{missing}", "--data.dev", "{missing}", "--stat.run_dir", "{run}"]),
    ],
)
def test_a_missing_input_file_is_one_line_and_exit_status_2(module, argv, tmp_path, capsys):
    import importlib

    values = {"missing": str(tmp_path / "nope.jsonl"), "out": str(tmp_path / "out.jsonl"), "run": str(tmp_path / "r")}
    with pytest.raises(SystemExit) as err:
        code = importlib.import_module(f"openrlhf_weakness.cli.{module}").main([a.format(**values) for a in argv])
        raise SystemExit(code)
    stderr = capsys.readouterr().err
    assert err.value.code == 2 and "nope.jsonl" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith(f"{module}: ")


def test_assess_judge_whose_template_refuses_a_system_message_gets_it_folded_in(tmp_path):
    """A server whose model's chat template has no system role answers 400; the judge folds the system prompt into
    the user message once and every later request goes that way."""
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"q{i}", "response": "a", "reference": "a"} for i in range(3)])
    judge = lambda m: "Feedback: fine. [RESULT] 4" if m.startswith("You are a fair judge") else "no"  # noqa: E731
    with ScriptedOpenAIServer(answer_fn=judge, refuse_system=True) as server:
        assess.main(
            _assess_argv(
                tmp_path,
                "--assess.assessor",
                "judge",
                "--judge.backend",
                "openai",
                "--judge.base_url",
                server.base_url,
                "--judge.model",
                "judge",
                "--judge.no_cache_enable",
                "--judge.max_in_flight",
                "1",
            )
        )
        assert server.requests == 1 + 3  # one refusal, then three folded requests
    assert [r["score"] for r in _read(tmp_path / "out.jsonl")] == [4, 4, 4]


def test_assess_judge_server_down_is_one_line_naming_the_url(tmp_path, capsys):
    from openrlhf_weakness.launch import free_port

    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a", "reference": "a"}])
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(SystemExit) as stop:
        assess.main(
            _assess_argv(
                tmp_path,
                "--assess.assessor",
                "judge",
                "--judge.backend",
                "openai",
                "--judge.base_url",
                dead,
                "--judge.model",
                "judge",
            )
        )
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"assess: --judge.base_url: no OpenAI-compatible server answers at {dead} (")


def test_judge_constrained_decoding_sends_vllms_structured_outputs_and_every_match_parses(tmp_path):
    import random
    import re

    from openrlhf_weakness.assess.judge import REPLY_REGEX, parse_judgement

    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a", "reference": "a"}])
    with ScriptedOpenAIServer(answer_fn=lambda m: "Feedback: fine. [RESULT] 3") as server:
        assess.main(
            _assess_argv(
                tmp_path,
                "--assess.assessor",
                "judge",
                "--judge.backend",
                "openai",
                "--judge.base_url",
                server.base_url,
                "--judge.model",
                "judge",
                "--judge.no_cache_enable",
                "--judge.structured_output",
                "vllm",
            )
        )
        assert server.bodies[-1]["structured_outputs"] == {"regex": REPLY_REGEX}
    assert [r["score"] for r in _read(tmp_path / "out.jsonl")] == [3]
    rng = random.Random(0)
    alphabet = "abc XYZ 0123456789 .,:;()!?{}<>|\\/'\"`~-_=+*&^%$#@" + "\u00e9\u4e2d"
    for _ in range(500):  # anything the constrained decoder can emit parses to its score, never to another
        score = rng.randint(1, 5)
        text = "Feedback: " + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) + f" [RESULT] {score}"
        assert re.fullmatch(REPLY_REGEX, text)
        assert parse_judgement(text).score == score, text
    with pytest.raises(SystemExit):
        assess.main(
            _assess_argv(
                tmp_path, "--assess.assessor", "judge", "--judge.model", "m", "--judge.structured_output", "vllm"
            )
        )


def test_assess_judge_server_dying_mid_stage_is_one_line_and_a_rerun_resumes_from_the_cache(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"q{i}", "response": "a", "reference": "a"} for i in range(6)])
    flags = [
        "--assess.assessor",
        "judge",
        "--judge.backend",
        "openai",
        "--judge.model",
        "judge",
        "--judge.max_retries",
        "0",
        "--judge.max_in_flight",
        "1",
        "--judge.cache_dir",
        str(tmp_path / "cache"),
    ]
    answered, state = [], {"broken": False}

    def judge(message: str) -> str:
        if state["broken"] is None:  # restarted: healthy again
            return "Feedback: ok. [RESULT] 4"
        if len(answered) == 4:  # the server breaks after four replies
            raise RuntimeError("scripted crash")
        answered.append(message)
        return "Feedback: ok. [RESULT] 5"

    with ScriptedOpenAIServer(answer_fn=judge) as server:
        with pytest.raises(SystemExit) as stop:
            assess.main(_assess_argv(tmp_path, "--judge.base_url", server.base_url, *flags))
        assert stop.value.code == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith("assess: ") and f"cached in {tmp_path / 'cache'}: rerun to go on" in line
        state["broken"], before = None, server.requests
        assert assess.main(_assess_argv(tmp_path, "--judge.base_url", server.base_url, *flags)) == 0
        assert server.requests - before == 2  # only the two that were never answered
    assert sorted(r["score"] for r in _read(tmp_path / "out.jsonl")) == [4, 4, 5, 5, 5, 5]


def test_generate_then_assess_read_parquet_and_name_its_rows(tmp_path, capsys):
    import datasets

    rows = [{"question": "1+1", "answer": "2"}, {"question": "2+2", "answer": "4"}]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "in.parquet"))
    with ScriptedOpenAIServer() as server:
        argv = ["--data.dataset", str(tmp_path / "in.parquet"), "--data.output", str(tmp_path / "answers.jsonl")]
        argv += ["--data.input_key", "question", "--gen.backend", "openai", "--gen.base_url", server.base_url]
        assert generate.main(argv + ["--gen.model", "m", "--gen.no_cache_enable"]) == 0
    answered = _read(tmp_path / "answers.jsonl")
    assert [(r["question"], r["response"]) for r in answered] == [("1+1", "echo: 1+1"), ("2+2", "echo: 2+2")]
    datasets.Dataset.from_list([dict(r, response=r["answer"]) for r in answered]).to_parquet(
        str(tmp_path / "answers.parquet")
    )
    keys = ["--data.input_key", "question", "--data.reference_key", "answer"]
    argv = ["--data.dataset", str(tmp_path / "answers.parquet"), "--data.output", str(tmp_path / "out.jsonl"), *keys]
    assert assess.main(argv) == 0
    assert [r["score"] for r in _read(tmp_path / "out.jsonl")] == [5, 5]
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:  # the old --data.response_key still works, with a deprecation line
        assess.main(argv + ["--data.response_key", "missing_column"])
    captured = capsys.readouterr()
    assert err.value.code == 2
    assert captured.err.strip() == f"assess: {tmp_path / 'answers.parquet'}, row 1, key 'missing_column': missing"
    assert "--data.response_key is deprecated and will be removed: use --data.output_key" in captured.out


def test_assess_bad_settings_are_one_line_and_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "1+1", "response": "2", "reference": "2"}])
    with pytest.raises(SystemExit) as err:
        assess.main(_assess_argv(tmp_path, "--assess.assessor", "judge", "--judge.structured_output", "vllm"))
    stderr = capsys.readouterr().err
    assert err.value.code == 2 and "Traceback" not in stderr
    assert stderr.strip() == "assess: --assess.assessor judge needs a judge model: --judge.backend and --judge.model"

    def broken(*args, **kwargs):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr("openrlhf_weakness.assess.config.make_assessor", broken)
    with pytest.raises(ValueError, match="a bug, not bad input"):  # not turned into exit status 2
        assess.main(_assess_argv(tmp_path))
