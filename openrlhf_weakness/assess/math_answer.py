"""Final-answer equivalence with math-verify (``\\boxed{}`` with nested braces, fractions, LaTeX): 5 right, 1 wrong.

math-verify's own timeouts use signals (main thread only); they are switched off (and its warning about that
silenced), and the wall-clock limit is a killable worker process (:mod:`openrlhf_weakness.assess.isolated`).
"""

from __future__ import annotations

import logging
import re

from openrlhf_weakness.assess.base import Assessment, Item, PerItemAssessor


class _NoTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.grader", "math_verify.parser"):
    logging.getLogger(_name).addFilter(_NoTimeoutWarning())


def answers_match(reference: str, response: str) -> tuple[bool, str]:
    from math_verify import parse, verify

    gold = parse(_as_math(str(reference)), parsing_timeout=None)
    if not gold:
        raise ValueError(f"reference {str(reference)[:80]!r} has no parseable answer")
    pred = parse(str(response), parsing_timeout=None)
    if not pred:
        return False, "no final answer found in the response"
    ok = verify(gold, pred, timeout_seconds=None)
    return ok, f"expected {gold[-1]}, got {pred[-1]}"


_PLAIN_INTEGER = re.compile(r"-?[0-9]{1,9}")
_ONE_BOX = re.compile(r"\\boxed\{ *(-?[0-9]{1,9}) *\}")


def integer_verdict(reference, response: str) -> tuple[bool, str] | None:
    """The verdict when both sides are plain integers (the reference, and the one ``\\boxed{}`` of the response), in
    time linear in the text and without sympy; None when math-verify must decide. Agrees with :func:`answers_match`
    (tests/test_math_answer.py fuzzes it), and cannot hang, so the hook decides such samples without a worker."""
    gold = str(reference).strip()
    if not _PLAIN_INTEGER.fullmatch(gold) or response.count("\\boxed") != 1 or "\\fbox" in response:
        return None
    match = _ONE_BOX.search(response)
    if match is None:
        return None
    ok = int(gold) == int(match.group(1))
    return ok, f"expected {int(gold)}, got {int(match.group(1))}"


def _as_math(reference: str) -> str:
    """A bare reference such as ``3/4`` or ``x^2`` is wrapped in ``$...$`` so LaTeX parsing sees it as math."""
    text = reference.strip()
    if "\\boxed" in text or "$" in text or "\\(" in text:
        return text
    return f"${text}$"


def _assessment(ok: bool, why: str) -> Assessment:
    return Assessment(5 if ok else 1, ("correct: " if ok else "wrong: ") + why)


def integer_assessment(item: Item) -> Assessment | None:
    """The item's assessment when :func:`integer_verdict` decides it (no sympy, no worker needed), else None."""
    verdict = integer_verdict(item.reference, item.response)
    return None if verdict is None else _assessment(*verdict)


class MathAnswerAssessor(PerItemAssessor):
    def __init__(self, num_workers: int = 1):
        self.num_workers = num_workers

    def assess(self, item: Item) -> Assessment:
        return integer_assessment(item) or _assessment(*answers_match(item.reference, item.response))
