"""STAT-Syn's filter: of a new question's solutions, keep those whose final answers agree (math-verify equivalence)
when at least ``min_agree`` of them do; otherwise drop the question."""

from __future__ import annotations


def final_answer(solution: str) -> str:
    """The ``\\boxed{}`` answer (nested braces), else the last number, else the last line."""
    import re

    text = str(solution)
    start = text.rfind("\\boxed{")
    if start >= 0:
        depth, i = 0, start + len("\\boxed{") - 1
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1 : j]
    numbers = re.findall(r"-?\d+(?:\.\d+)?(?:/\d+)?", text.replace(",", ""))
    if numbers:
        return numbers[-1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def same_answer(a: str, b: str) -> bool:
    from openrlhf_weakness.assess.math_answer import answers_match

    if not a or not b:
        return False
    if a.strip() == b.strip():
        return True
    try:
        return answers_match(a, f"\\boxed{{{b}}}")[0]
    except ValueError:
        return False


def consistent_solutions(solutions: list[str], min_agree: int = 2) -> list[str]:
    """The largest group of solutions with equivalent final answers, if it has at least ``min_agree`` members."""
    answers = [final_answer(s) for s in solutions]
    best: list[int] = []
    for i in range(len(solutions)):
        group = [j for j in range(len(solutions)) if same_answer(answers[i], answers[j])]
        if len(group) > len(best):
            best = group
    return [solutions[j] for j in best] if len(best) >= min_agree else []
