"""The Prometheus-style judge (parser, prompt, and a real HTTP judge on 127.0.0.1) and the user-function assessor."""

from __future__ import annotations

import pytest

from openrlhf_weakness.assess.base import Item, score_to_1_5
from openrlhf_weakness.assess.function import FunctionAssessor
from openrlhf_weakness.assess.judge import RUBRICS, JudgeAssessor, judge_messages, load_rubric, parse_judgement
from openrlhf_weakness.backends.config import SamplingParams
from openrlhf_weakness.backends.openai_compat import OpenAIBackend
from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer


@pytest.mark.parametrize(
    "text, score",
    [
        ("Feedback: The response is correct. [RESULT] 5", 5),
        ("Feedback: Partly right.\n[RESULT] 3\n", 3),
        ("Feedback: ok [RESULT] (4)", 4),
        ("Feedback: ok [RESULT]: 2 and some trailing chatter", 2),
        ("Feedback: fine [RESULT] 4 ... as I said, [RESULT] 4", 4),  # repeated but consistent
        ("Feedback: no score here", None),
        ("", None),
        ("Feedback: undecided [RESULT] 2 or maybe [RESULT] 5", None),  # conflicting
        ("Feedback: generous [RESULT] 7", None),
        ("Feedback: harsh [RESULT] 0", None),
        ("Feedback: fractional [RESULT] 3.5", None),
        ("[RESULT] 1", 1),
    ],
)
def test_parse_judgement(text, score):
    result = parse_judgement(text)
    assert result.score == score
    if score is None:
        assert result.feedback.startswith("judge")


def test_prompt_has_instruction_response_reference_and_five_levels():
    messages = judge_messages(Item("Add 2 and 2.", "5", "4"), RUBRICS["math"])
    user = messages[-1]["content"]
    for part in (
        "###The instruction to evaluate:\nAdd 2 and 2.",
        "###Response to evaluate:\n5",
        "###Reference Answer (Score 5):\n4",
        "Score 1: ",
        "Score 5: ",
        "[RESULT]",
    ):
        assert part in user
    assert set(RUBRICS) == {"general", "math", "code"}


def test_custom_rubric_file(tmp_path):
    good = tmp_path / "r.json"
    good.write_text('{"criteria": "Is it polite?", "levels": ["a", "b", "c", "d", "e"]}')
    assert load_rubric(str(good))["criteria"] == "Is it polite?"
    bad = tmp_path / "bad.json"
    bad.write_text('{"criteria": "x", "levels": ["a"]}')
    with pytest.raises(ValueError, match="five descriptions"):
        load_rubric(str(bad))


def test_judge_through_a_real_http_server_scores_and_counts_garbage():
    def judge(message: str) -> str:
        if "Response to evaluate:\nright" in message:
            return "Feedback: Matches the reference. [RESULT] 5"
        if "Response to evaluate:\nwrong" in message:
            return "Feedback: Wrong answer. [RESULT] 1"
        return "I refuse to grade this."

    items = [Item("2+2?", "right", "4"), Item("2+2?", "wrong", "4"), Item("2+2?", "odd", "4"), Item("2+2?", "", "4")]
    with ScriptedOpenAIServer(answer_fn=judge) as server:
        backend = OpenAIBackend(server.base_url, "prometheus", max_retries=0)
        results = JudgeAssessor(backend, SamplingParams(max_new_tokens=64), RUBRICS["general"]).assess_batch(items)
        assert server.requests == 3  # the empty response is scored 1 without asking the judge
    assert [r.score for r in results] == [5, 1, None, 1]
    assert results[0].feedback == "Matches the reference." and "no [RESULT]" in results[2].feedback


def test_function_assessor_maps_scores_and_counts_errors(tmp_path):
    path = tmp_path / "score.py"
    path.write_text(
        "def score(prompt, response, reference):\n"
        "    if response == 'boom':\n        raise RuntimeError('bad')\n"
        "    return 1.0 if response == reference else (0.5 if response in reference else 0.0)\n"
    )
    assessor = FunctionAssessor(str(path), num_workers=2)
    items = [Item("p", "abc", "abc"), Item("p", "b", "abc"), Item("p", "z", "abc"), Item("p", "boom", "abc")]
    results = assessor.assess_batch(items)
    assert [r.score for r in results] == [5, 3, 1, None]
    assert "RuntimeError: bad" in results[3].feedback
    assert [score_to_1_5(v) for v in (0, 0.25, 0.5, 0.875, 1)] == [1, 2, 3, 5, 5]
    assert [score_to_1_5(v, "five") for v in (1, 2.4, 2.5, 5)] == [1, 2, 3, 5]
    for bad, scale in (
        (-0.1, "unit"),
        (1.5, "unit"),
        (0.5, "five"),
        (6, "five"),
        ("3", "unit"),
        (float("nan"), "unit"),
        (True, "unit"),
    ):
        with pytest.raises(ValueError):
            score_to_1_5(bad, scale)


def test_function_assessor_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        FunctionAssessor(str(tmp_path / "missing.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ValueError, match="must define score"):
        FunctionAssessor(str(empty))
