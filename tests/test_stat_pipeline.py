"""The STAT pipeline on the tiny model, with a teacher served by a real OpenAI-compatible server on 127.0.0.1 that
answers from a script, malformed answers included; STAT-Syn's consistency filter on planted solutions."""

from __future__ import annotations

import json

import pytest

from openrlhf_weakness.cli import stat
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.stat.synthesis import consistent_solutions, final_answer
from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer


def teacher(message: str) -> str:
    if "List the distinct skills" in message:
        return "<skill>Addition</skill>\n<skill>subtraction</skill>\n<skill>addition</skill>"  # a duplicate
    if "Which skills" in message:
        if "plus" in message:
            return "<skill>Addition, astrology</skill><reason>sum</reason>"  # an unknown skill
        if "minus" in message:
            return "It needs subtraction, clearly."  # no tags at all
        return ""  # empty output
    if "Is the student's answer correct" in message:
        if "plus" in message:
            return "<judge>incorrect</judge><reason>wrong sum</reason><skill>addition</skill>"
        return "<judge>correct</judge><reason>looks fine</reason>"  # a "correct" verdict on a failed answer
    if "Write 2 new questions" in message:
        return (
            "<reason>r</reason><draft>d</draft><question>What is 11 plus 12?</question>"
            "<reason>r</reason><draft>d</draft><question>What is 30 plus 3?</question>"
        )
    if message == "What is 11 plus 12?":
        return "11 + 12 = \\boxed{23}"
    if message == "What is 30 plus 3?":
        return "\\boxed{33}"
    return "I don't know"


def test_stat_pipeline_with_a_scripted_teacher(tiny_model, tmp_path):
    train = [{"input": f"What is {i} plus {i}?", "output": f"\\boxed{{{2 * i}}}"} for i in range(6)]
    train += [{"input": f"What is {i} minus 1?", "output": f"\\boxed{{{i - 1}}}"} for i in range(4)]
    train += [{"input": "Name a colour.", "output": "Blue."}]
    dev = [{"input": "What is 7 plus 8?", "reference": "15"}, {"input": "What is 9 minus 4?", "reference": "5"}]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "dev.jsonl", dev)
    run = tmp_path / "run"
    with ScriptedOpenAIServer(answer_fn=teacher) as server:
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
            "--teacher.backend",
            "openai",
            "--teacher.base_url",
            server.base_url,
            "--teacher.model",
            "t",
            "--stat.k",
            "3",
            "--stat.size",
            "30",
            "--stat.syn_enable",
        ]
        assert stat.main(argv) == 0
        requests = server.requests
        assert stat.main(argv) == 0 and server.requests == requests  # resumed: nothing asked twice
    skills = json.loads((run / "skills.json").read_text())
    assert skills["skills"] == ["addition", "subtraction"] and skills["duplicates_dropped"] == 1
    labels = [json.loads(line)["skills"] for line in open(run / "labels.jsonl")]
    assert labels[:6] == [["addition"]] * 6 and labels[6:10] == [["subtraction"]] * 4 and labels[10] == []
    profile = json.loads((run / "profile.json").read_text())
    assert profile["difficult_questions"] == 2 and profile["counts"] == {"addition": 1}
    assert profile["teacher_said_correct"] == 1 and profile["examples_with_zero_weight"] == 5
    assert (run / "profile.png").stat().st_size > 1000
    weighted = [json.loads(line) for line in open(run / "stat_sel.jsonl")]
    assert [r["stat_weight"] for r in weighted] == [0.5] * 6 + [0.0] * 5  # count 1 * k 3 / |map| 6
    draw = [json.loads(line) for line in open(run / "stat_sel_draw.jsonl")]
    assert len(draw) == 30 and all("plus" in r["input"] for r in draw)
    syn = [json.loads(line) for line in open(run / "stat_syn.jsonl")]
    assert {r["input"] for r in syn} == {"What is 11 plus 12?", "What is 30 plus 3?"} and len(syn) == 6
    assert all(r["skill"] == "addition" and r["synthesized"] for r in syn)


def test_consistency_filter_on_planted_solutions():
    agree = ["So \\boxed{\\frac{1}{2}}", "The answer is 0.5", "\\boxed{\\frac{2}{4}}"]
    assert consistent_solutions(agree) == agree
    two_of_three = ["\\boxed{7}", "it is 7", "\\boxed{8}"]
    assert consistent_solutions(two_of_three) == ["\\boxed{7}", "it is 7"]
    assert consistent_solutions(["\\boxed{1}", "\\boxed{2}", "\\boxed{3}"]) == []
    assert consistent_solutions(["no answer", ""]) == []
    assert final_answer("x \\boxed{\\frac{a}{\\sqrt{b}}} y") == "\\frac{a}{\\sqrt{b}}"


def test_stat_without_a_teacher_uses_the_skill_key(tiny_model, tmp_path):
    train = [{"input": f"What is {i} plus 2?", "output": str(i + 2), "gen": "add"} for i in range(4)]
    train += [{"input": f"Is {i} prime?", "output": "no", "gen": "prime"} for i in range(4)]
    dev = [{"input": "What is 5 plus 5?", "reference": "10", "gen": "add"}]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "dev.jsonl", dev)
    run = tmp_path / "run"
    stat.main(
        [
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
            "--stat.skill_key",
            "gen",
        ]
    )
    weights = [json.loads(line)["stat_weight"] for line in open(run / "stat_sel.jsonl")]
    assert weights == [5 / 4] * 4 + [0.0] * 4  # the difficult add question misses its own skill


def test_prm_rule_and_prm_difficulty(tiny_model, tmp_path):
    from openrlhf_weakness.stat.profile import prm_difficult

    assert prm_difficult([0.9, 0.95, 0.9]) is False
    assert prm_difficult([0.9, 0.9, 0.85]) is True  # last step <= 0.85
    assert prm_difficult([0.95, 0.69, 0.99]) is True  # an earlier step <= 0.7
    assert prm_difficult([0.86, 0.86, 0.86]) is False and prm_difficult([0.8, 0.86, 0.9]) is False
    assert prm_difficult([0.75, 0.86, 0.9]) is True  # mean 0.837 <= 0.85
    assert prm_difficult([]) is True

    prm = tmp_path / "prm.py"
    prm.write_text("def step_scores(question, answer):\n    return [0.2] if 'plus' in question else [0.99, 0.99]\n")
    write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"input": "What is 1 plus 1?", "output": "2", "k": "add"},
            {"input": "Is 3 odd?", "output": "yes", "k": "odd"},
        ],
    )
    write_jsonl(
        tmp_path / "dev.jsonl",
        [
            {"input": "What is 2 plus 2?", "reference": "4", "k": "add"},
            {"input": "Is 5 odd?", "reference": "yes", "k": "odd"},
        ],
    )
    run = tmp_path / "run"
    stat.main(
        [
            "--data.train",
            str(tmp_path / "train.jsonl"),
            "--data.dev",
            str(tmp_path / "dev.jsonl"),
            "--stat.run_dir",
            str(run),
            "--gen.model",
            str(tiny_model),
            "--gen.max_new_tokens",
            "2",
            "--stat.skill_key",
            "k",
            "--stat.difficulty",
            "prm",
            "--stat.prm_path",
            str(prm),
        ]
    )
    answered = [json.loads(line) for line in open(run / "dev_answers.jsonl")]
    assert [r["difficult"] for r in answered] == [True, False]


def test_write_jsonl_leaves_nothing_behind_when_the_disk_is_full(tmp_path, monkeypatch):
    import errno
    import os

    import pytest

    from openrlhf_weakness.io import jsonl

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonl.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        jsonl.write_jsonl(tmp_path / "out.jsonl", [{"a": 1}])
    assert os.listdir(tmp_path) == []


def test_ledger_failures_join_the_difficult_questions(tiny_model, tmp_path):
    from openrlhf_weakness.hooks.ledger import append_failures

    write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"input": "What is 1 plus 1?", "output": "2", "k": "add"},
            {"input": "Is 3 odd?", "output": "yes", "k": "odd"},
        ],
    )
    write_jsonl(tmp_path / "dev.jsonl", [{"input": "Is 5 odd?", "reference": "yes", "k": "odd"}])
    always = tmp_path / "always.py"
    always.write_text("def score(p, r, ref):\n    return 1.0\n")  # the student gets every dev question right
    ledger = tmp_path / "ledger.jsonl"
    append_failures(
        ledger,
        [
            {
                "prompt": "What is 4 plus 4?",
                "response": "9",
                "label": '{"answer": "8"}',
                "datasource": "add",
                "score": 1,
            }
        ],
    )
    run = tmp_path / "run"
    stat.main(
        [
            "--data.train",
            str(tmp_path / "train.jsonl"),
            "--data.dev",
            str(tmp_path / "dev.jsonl"),
            "--stat.run_dir",
            str(run),
            "--gen.model",
            str(tiny_model),
            "--gen.max_new_tokens",
            "2",
            "--stat.skill_key",
            "k",
            "--assess.assessor",
            "function",
            "--assess.function_path",
            str(always),
            "--data.ledger",
            str(ledger),
        ]
    )
    missing = [json.loads(line) for line in open(run / "missing.jsonl")]
    assert len(missing) == 1 and missing[0]["missing"] == ["add"] and missing[0]["reference"] == "8"
    assert [json.loads(line)["stat_weight"] for line in open(run / "stat_sel.jsonl")] == [5.0, 0.0]


def test_a_skill_key_no_row_has_stops_with_one_line(tiny_model, tmp_path, capsys):
    write_jsonl(tmp_path / "train.jsonl", [{"input": "What is 1 plus 1?", "output": "2"}])
    write_jsonl(tmp_path / "dev.jsonl", [{"input": "Is 5 odd?", "reference": "yes"}])
    with pytest.raises(SystemExit) as stop:
        stat.main(
            [
                "--data.train",
                str(tmp_path / "train.jsonl"),
                "--data.dev",
                str(tmp_path / "dev.jsonl"),
                "--stat.run_dir",
                str(tmp_path / "run"),
                "--gen.model",
                str(tiny_model),
                "--stat.skill_key",
                "datasource",
            ]
        )
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--stat.skill_key 'datasource'" in err[0] and "input, output" in err[0], err
