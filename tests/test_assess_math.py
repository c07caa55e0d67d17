"""The math assessor on a table of equivalent and non-equivalent final answers."""

from __future__ import annotations

import pytest

from openrlhf_weakness.assess.base import Item
from openrlhf_weakness.assess.math_answer import MathAnswerAssessor

EQUIVALENT = [
    ("4", "The answer is \\boxed{4}"),
    ("4", "So we get 4."),
    ("\\frac{1}{2}", "\\boxed{0.5}"),
    ("0.5", "$\\frac{1}{2}$"),
    ("\\frac{3}{4}", "It equals 3/4"),
    ("3/4", "\\boxed{\\frac{3}{4}}"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\boxed{\\frac{\\sqrt{3}}{2}}"),
    ("\\frac{\\sqrt{2}}{2}", "\\boxed{\\frac{1}{\\sqrt{2}}}"),
    ("2\\sqrt{2}", "\\boxed{\\sqrt{8}}"),
    ("x^2+2x+1", "\\boxed{(x+1)^2}"),
    ("10", "\\boxed{10.0}"),
    ("-3", "the result is \\boxed{-3}"),
    ("\\boxed{\\{1,2\\}}", "\\boxed{\\{2,1\\}}"),
    ("\\pi", "\\boxed{\\pi}"),
    ("1000", "\\boxed{1,000}"),
    ("\\frac{7}{2}", "\\boxed{3.5}"),
    ("\\boxed{\\frac{1}{\\frac{1}{2}}}", "\\boxed{2}"),  # nested braces
    ("25\\%", "\\boxed{25\\%}"),
    ("2", "First 1+1 = 2, so the answer is \\boxed{2}"),
    ("(1, 2)", "\\boxed{(1,2)}"),
]
NOT_EQUIVALENT = [
    ("4", "The answer is \\boxed{5}"),
    ("\\frac{1}{2}", "\\boxed{0.25}"),
    ("3/4", "\\boxed{4/3}"),
    ("-3", "\\boxed{3}"),
    ("x^2+1", "\\boxed{x^2-1}"),
    ("\\sqrt{2}", "\\boxed{2}"),
    ("10", "\\boxed{100}"),
    ("\\pi", "\\boxed{3}"),
    ("(1, 2)", "\\boxed{(2,1)}"),
    ("7", "I do not know."),
    ("12", "\\boxed{\\frac{1}{12}}"),
]


@pytest.fixture(scope="module")
def assessor():
    return MathAnswerAssessor()


@pytest.mark.parametrize("reference, response", EQUIVALENT)
def test_equivalent_answers_score_5(assessor, reference, response):
    result = assessor.assess_batch([Item("q", response, reference)])[0]
    assert result.score == 5, result.feedback


@pytest.mark.parametrize("reference, response", NOT_EQUIVALENT)
def test_different_answers_score_1(assessor, reference, response):
    result = assessor.assess_batch([Item("q", response, reference)])[0]
    assert result.score == 1, result.feedback


def test_table_size_and_threads_give_the_same_scores():
    assert len(EQUIVALENT) + len(NOT_EQUIVALENT) >= 30
    items = [Item("q", resp, ref) for ref, resp in EQUIVALENT + NOT_EQUIVALENT]
    threaded = MathAnswerAssessor(num_workers=4).assess_batch(items)  # math-verify's signal timeouts are off
    assert [r.score for r in threaded] == [5] * len(EQUIVALENT) + [1] * len(NOT_EQUIVALENT)


def test_empty_response_and_unparseable_reference():
    empty, broken = MathAnswerAssessor().assess_batch([Item("q", "  ", "4"), Item("q", "4", "")])
    assert empty.score == 1 and empty.feedback == "empty response"
    assert broken.score is None and "no parseable answer" in broken.feedback


def test_integer_fast_path_agrees_with_math_verify():
    """The hook decides plain-integer samples without a worker; on these it must say what math-verify says."""
    import random

    from openrlhf_weakness.assess.math_answer import answers_match, integer_verdict

    rng = random.Random(0)
    shapes = [
        "The sum is \\boxed{{{x}}}",
        "\\boxed{{ {x} }}.",
        "$\\boxed{{{x}}}$ then 7",
        "first 3, so \\boxed{{{x}}}^2",
        "\\boxed {{{x}}}\\%",
        "\\boxed{{{x}}}\\%",
        "\\boxed{{{x}}} or \\boxed{{{y}}}",
        "\\boxed{{{x}.0}}",
        "\\boxed{{{x}/1}}",
        "\\fbox{{{y}}} \\boxed{{{x}}}",
        "\\boxed{{-{x}}}",
        "\\boxed{{00{x}}}",
        "\\\\boxed{{{x}}}",
        "\\text{{\\boxed{{{x}}}}}",
        "\\boxed{{{x}}}}}",
        "{x}",
        "\\boxed{{{x}{x}}}",
    ]
    decided = 0
    for _ in range(300):
        ref = rng.choice([rng.randint(0, 99), rng.randint(-999, 999), rng.randint(10**8, 10**9 - 1)])
        x = rng.choice([ref, ref + 1, -ref, abs(ref)])
        response = rng.choice(shapes).format(x=x, y=rng.randint(0, 9))
        for reference in (str(ref), f" {ref} "):
            fast = integer_verdict(reference, response)
            if fast is not None:
                decided += 1
                assert fast[0] == answers_match(reference, response)[0], (reference, response)
    assert decided > 200  # the fast path does take the common shapes
    assert integer_verdict("42", "\\boxed{4200000000}") is None  # too long for the fast path
    assert integer_verdict("1/2", "\\boxed{1}") is None and integer_verdict("42", "no box, 42") is None
