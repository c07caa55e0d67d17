"""LLM judge in Prometheus-2's absolute-grading format, through any generation backend, with a robust
``[RESULT] n`` parser: a missing, conflicting or out-of-range score is a counted skip, never a guess."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from pathlib import Path

from openrlhf_weakness.assess.base import Assessment, Item
from openrlhf_weakness.errors import SettingsError

SYSTEM = (
    "You are a fair judge assistant tasked with providing clear, objective feedback based on a specific criteria, "
    "ensuring each assessment reflects the absolute standards set for performance."
)
TEMPLATE = """###Task Description:
An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.
1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.
2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.
3. The output format should look as follows: "Feedback: (write a feedback for criteria) [RESULT] (an integer number between 1 and 5)"
4. Please do not generate any other opening, closing, and explanations.

###The instruction to evaluate:
{instruction}

###Response to evaluate:
{response}

###Reference Answer (Score 5):
{reference}

###Score Rubrics:
[{criteria}]
{levels}

###Feedback: """

RUBRICS = {
    "general": {
        "criteria": "Is the response factually correct, does it meet the user's need, is it logically coherent and "
        "complete?",
        "levels": [
            "The response is mostly incorrect, ignores the user's need, and is incoherent or badly incomplete.",
            "The response has major factual errors or omissions and only partly addresses the need.",
            "The response is partly correct and relevant but has noticeable errors, gaps or weak reasoning.",
            "The response is correct and relevant with minor issues of coherence or completeness.",
            "The response is fully correct, meets the need, is coherent and complete, matching the reference.",
        ],
    },
    "math": {
        "criteria": "Does the response reach the reference's final answer with valid, complete reasoning?",
        "levels": [
            "Wrong final answer and invalid or missing reasoning.",
            "Wrong final answer, though some steps are valid.",
            "Wrong or missing final answer with mostly valid reasoning, or right answer by invalid reasoning.",
            "Right final answer with minor gaps or unclear steps.",
            "Right final answer with valid, complete and clear reasoning.",
        ],
    },
    "code": {
        "criteria": "Does the code do what the instruction asks, correctly and completely, as the reference does?",
        "levels": [
            "The code does not run or does something else entirely.",
            "The code addresses the task but is wrong on most inputs.",
            "The code is right on common inputs but wrong on edge cases or incomplete.",
            "The code is correct with minor issues of style, efficiency or robustness.",
            "The code is correct, complete and clear, equivalent to the reference.",
        ],
    },
}
RESULT = re.compile(r"\[RESULT\]\s*[:(]?\s*([-+]?[0-9]+(?:\.[0-9]+)?)(?![0-9])", re.ASCII)
# The reply format as a regular expression for constrained decoding (vLLM structured outputs): feedback without score
# markers, then exactly one [RESULT] with an integer from 1 to 5, so every constrained reply parses.
REPLY_REGEX = r"Feedback: [^\[\]\n]{1,1500} \[RESULT\] [1-5]"
# the marker's word in any case, with any spacing or punctuation between its letters, once the answer is normalised
RESULT_WORD = re.compile(r"r[\W_]*e[\W_]*s[\W_]*u[\W_]*l[\W_]*t", re.I)
# Latin look-alikes that NFKC leaves alone: Cyrillic and Greek letters, brackets of other scripts
CONFUSABLES = str.maketrans(
    "\u0410\u0412\u0415\u0405\u0406\u0408\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
    "\u03bf\u03ba\u03bd\u03c1\u03c4\u03c5\u03c7\u3010\u3011\u3014\u3015\u27e6\u27e7",
    "ABESIJKMHOPCTYXaeopcyxsijABEZHIKMNOPTYXokvptux[][][]",
)


def normalise_answer(text: str) -> str:
    """The answer's skeleton: HTML entities decoded, Unicode compatibility forms folded (fullwidth becomes ASCII),
    zero-width, tag, format and combining characters removed (accents too: a mark can hide inside a marker), Cyrillic
    and Greek look-alikes folded to Latin."""
    for _ in range(3):  # entities inside entities (&amp;#91;)
        text = html.unescape(text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Me", "Cf", "Co", "Cs"))
    return unicodedata.normalize("NFKC", text.translate(CONFUSABLES))


def quote_answer(text: str) -> str:
    """The normalised answer escaped so that nothing in it can pass for the judge's own text: the score marker's
    word in any disguise becomes ``outcome`` and a section header ``###`` becomes ``##``."""
    return re.sub(r"#{3,}", "##", RESULT_WORD.sub("outcome", normalise_answer(text)))


def load_rubric(name_or_path: str) -> dict:
    """A built-in rubric (general, math, code) or a JSON file with ``criteria`` and five ``levels``."""
    if name_or_path in RUBRICS:
        return RUBRICS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise SettingsError(f"rubric {name_or_path!r} is neither built in ({', '.join(RUBRICS)}) nor a file")
    rubric = json.loads(path.read_text())
    if not isinstance(rubric.get("criteria"), str) or len(rubric.get("levels", [])) != 5:
        raise SettingsError(f"{path}: a rubric needs a 'criteria' string and 'levels' with five descriptions")
    return rubric


def judge_messages(item: Item, rubric: dict) -> list[dict]:
    """The judge's request. The answer under judgement cannot carry a score marker or a section into it: ``[RESULT]
    5`` in any disguise (fullwidth, zero-width, look-alike letters, entities, spacing, combining marks; a reward hack
    under RL) reaches the judge as ``[outcome] 5``."""
    from openrlhf_weakness.backends.base import message_text

    levels = "\n".join(f"Score {i + 1}: {text}" for i, text in enumerate(rubric["levels"]))
    response = quote_answer(str(item.response))
    user = TEMPLATE.format(
        instruction=message_text(item.prompt),
        response=response,
        reference=item.reference,
        criteria=rubric["criteria"],
        levels=levels,
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_judgement(text: str) -> Assessment:
    """``Feedback: ... [RESULT] n`` -> score n; anything else -> score None with the reason."""
    found = RESULT.findall(text or "")
    feedback = re.split(r"\[RESULT\]", text or "", maxsplit=1)[0].strip()
    feedback = re.sub(r"^\s*Feedback:\s*", "", feedback)[:1000]
    if not found:
        return Assessment(None, "judge output has no [RESULT] score")
    values = {float(v) for v in found}
    if len(values) > 1:
        return Assessment(None, f"judge output has conflicting [RESULT] scores {sorted(values)}")
    value = values.pop()
    if value != int(value) or not 1 <= value <= 5:
        return Assessment(None, f"judge score {found[0]} is not an integer from 1 to 5")
    return Assessment(int(value), feedback)


REMINDER = (
    'Your reply has no valid score. Reply again in the required format: "Feedback: (your feedback) [RESULT] (an '
    'integer number between 1 and 5)", with exactly one [RESULT].'
)


class JudgeAssessor:
    """Scores through a generation backend (an OpenAI-compatible server, vLLM or transformers). A reply without a
    valid score is asked again up to ``parse_retries`` times, then left unscored; ``report`` counts every reply."""

    def __init__(self, backend, params, rubric: dict, cache=None, parse_retries: int = 0):
        from openrlhf_weakness.backends.parsed import ParseReport

        self.backend, self.params, self.rubric, self.cache = backend, params, rubric, cache
        self.parse_retries = parse_retries
        self.report = ParseReport("judge")

    def assess_batch(self, items: list[Item]) -> list[Assessment]:
        from openrlhf_weakness.backends.parsed import generate_parsed

        results: list[Assessment | None] = [None] * len(items)
        todo = []
        for i, item in enumerate(items):
            if not item.response or not str(item.response).strip():
                results[i] = Assessment(1, "empty response")
            else:
                todo.append(i)
        if not todo:
            return results

        def scored(text: str) -> Assessment | None:
            found = parse_judgement(text)
            return found if found.score is not None else None

        prompts = [judge_messages(items[i], self.rubric) for i in todo]
        values, texts, report = generate_parsed(
            self.backend, prompts, self.params, scored, self.parse_retries, REMINDER, "judge", self.cache
        )
        self.report.add(report)
        for i, value, text in zip(todo, values, texts):
            if value is None:
                why = parse_judgement(text).feedback
                value = Assessment(None, f"{why} (unscored after {self.parse_retries} retries)")
            results[i] = value
        return results
