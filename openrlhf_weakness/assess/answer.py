"""Answer and assess: the one stage both methods start from (APT's bad-case mining and evaluation, STAT's difficult
questions, ``cli.assess``, the demos). Rows go in; the same rows come out with the model's answer and its score."""

from __future__ import annotations

import time

from openrlhf_weakness.data.keys import RowKeys

__all__ = ["RowKeys", "answer_and_assess", "assess_rows"]


def assess_rows(
    assessor, rows: list[dict], keys: RowKeys, bad_below: int, desc: str = "assess", samples: bool = False
) -> list[dict]:
    """Each row plus ``score`` (1..5, None when undecided), ``feedback`` and ``bad`` (score < ``bad_below``) of its
    response; with ``samples``, every answer in its ``responses`` list is scored (``scores``), the first as above."""
    from tqdm import tqdm

    from openrlhf_weakness.assess.base import Item

    answers = [row["responses"] if samples else [row[keys.response]] for row in rows]
    items = [Item(row[keys.input], a, row[keys.reference]) for row, outs in zip(rows, answers) for a in outs]
    results = []
    chunk = 64  # progress in steps a person can see, without starving a pool of workers
    with tqdm(total=len(items), desc=desc, unit="answer", disable=len(items) < chunk) as bar:
        for start in range(0, len(items), chunk):
            results.extend(assessor.assess_batch(items[start : start + chunk]))
            bar.update(len(items[start : start + chunk]))
    flat, out = iter(results), []
    for row, outs in zip(rows, answers):
        scored = [next(flat) for _ in outs]
        first = scored[0]
        bad = first.score is not None and first.score < bad_below
        extra = {"score": first.score, "feedback": first.feedback, "bad": bad}
        if samples:
            extra["scores"] = [s.score for s in scored]
        out.append(dict(row, **extra))
    return out


def answer_and_assess(
    backend,
    assessor,
    rows: list[dict],
    params,
    keys: RowKeys,
    bad_below: int,
    cache=None,
    desc: str = "answer",
    samples: bool | None = None,
) -> tuple[list[dict], dict]:
    """The model behind ``backend`` answers every row (``params.n`` samples, the first as ``response``; all of them
    as ``responses``/``scores`` when ``samples``, by default when n > 1), ``assessor`` scores them. Returns the
    scored rows and where the time went."""
    from openrlhf_weakness.backends.driver import generate_all

    start = time.perf_counter()
    answers, hits = generate_all(backend, [row[keys.input] for row in rows], params, cache, desc)
    generated = time.perf_counter()
    samples = params.n > 1 if samples is None else samples
    answered = []
    for row, outs in zip(rows, answers):
        answered.append(dict(row, **{keys.response: outs[0]}, **({"responses": outs} if samples else {})))
    scored = assess_rows(assessor, answered, keys, bad_below, f"{desc}: assess", samples)
    timing = {"generate": generated - start, "assess": time.perf_counter() - generated, "cache_hits": hits}
    return scored, timing
