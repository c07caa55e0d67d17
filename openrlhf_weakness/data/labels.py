"""Labels as rows carry them: a plain answer, or a JSON object with the answer, its skill and perhaps a worked solution.

Read the same way by the reward hook (the answer an assessor checks), APT's pairs and STAT's ledger join (the text a
model should learn to write).
"""

from __future__ import annotations

import json

ANSWER_KEYS = ("answer", "reference", "label", "tests")


def parse_label(label) -> tuple[object, str]:
    """(reference, datasource) from a label: a plain answer, or a dict / JSON object with answer|reference|label|tests
    and optionally datasource|skill."""
    if isinstance(label, str) and label.strip().startswith("{"):
        try:
            label = json.loads(label)
        except ValueError:
            pass
    if isinstance(label, dict):
        for key in ANSWER_KEYS:
            if key in label:
                return label[key], str(label.get("datasource") or label.get("skill") or "")
        raise ValueError(f"label has none of answer/reference/label/tests: {sorted(label)}")
    if isinstance(label, bool) or not isinstance(label, (str, int, float, list)):
        raise ValueError(f"label of type {type(label).__name__} is not usable")
    return (str(label) if isinstance(label, (int, float)) else label), ""


def label_question(label) -> str | None:
    """The raw question a label carries (``question``), if any: OpenRLHF hands reward functions the prompt after its
    chat template, and the next round's rows want the question as written."""
    if isinstance(label, str) and label.strip().startswith("{"):
        try:
            label = json.loads(label)
        except ValueError:
            return None
    question = label.get("question") if isinstance(label, dict) else None
    return question if isinstance(question, str) and question.strip() else None


def reference_text(value):
    """A reference as text: labels may be JSON objects ({"answer": ..., "datasource": ...}); one that carries a worked
    ``solution`` gives that, the text the model should learn to write (assessors still read ``answer``)."""
    if isinstance(value, dict) or (isinstance(value, str) and value.strip().startswith("{")):
        try:
            label = json.loads(value) if isinstance(value, str) else value
            solution = label.get("solution") if isinstance(label, dict) else None
            if isinstance(solution, str) and solution.strip():
                return solution
            return parse_label(label)[0]
        except ValueError:
            return value
    return value
