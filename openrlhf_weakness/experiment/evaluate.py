"""Scoring a model on held-out splits through the answer-and-assess stage, with the user's ``--gen.*`` and
``--assess.*`` settings: the one scoring path of ``cli.compare`` and ``cli.evaluate`` (and of the loop's evaluation).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

logger = logging.getLogger(__name__)


def question_score(row: dict) -> float:
    """A scored row as a number in [0, 1]: (score - 1) / 4, so a right/wrong assessor gives 1/0; unscored counts 0."""
    return 0.0 if row.get("score") is None else (row["score"] - 1) / 4


def split_summary(scored: list[dict], datasource_key: str = "datasource") -> dict:
    """Mean question score overall and per category (rows without the key fall in "")."""
    groups: dict[str, list[float]] = {}
    for row in scored:
        groups.setdefault(str(row.get(datasource_key) or ""), []).append(question_score(row))
    values = [question_score(r) for r in scored]
    return {
        "score": sum(values) / len(values) if values else 0.0,
        "n": len(values),
        "by_datasource": {k: sum(v) / len(v) for k, v in sorted(groups.items())},
    }


def evaluate_model(
    model: str,
    splits: dict[str, list[dict]],
    gen,
    assess,
    keys,
    cache_dir: str | os.PathLike | None = None,
    judge=None,
    assessor=None,
) -> dict[str, list[dict]]:
    """Every split's rows answered by ``model`` (``gen`` with its model replaced) and assessed (``assess``, the judge's
    ``judge`` settings): ``{split: scored rows}``, each row with ``response``, ``score``, ``feedback``, ``bad``.

    ``keys`` is an :class:`~openrlhf_weakness.assess.answer.RowKeys`; answers are cached in ``gen.cache_dir`` or else
    ``cache_dir`` (none with ``gen.no_cache_enable``); pass ``assessor`` to reuse one across models."""
    from openrlhf_weakness.assess.answer import answer_and_assess
    from openrlhf_weakness.assess.config import make_assessor
    from openrlhf_weakness.backends.cache import DEFAULT_CACHE_DIR, open_cache
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.driver import make_backend

    own_assessor = assessor is None
    assessor = make_assessor(assess, judge) if own_assessor else assessor
    backend = make_backend(replace(gen, model=model))
    cache = open_cache(gen, cache_dir or DEFAULT_CACHE_DIR)
    params = SamplingParams.from_config(gen)
    out = {}
    try:
        for split, rows in splits.items():
            scored, _ = answer_and_assess(backend, assessor, rows, params, keys, assess.bad_below, cache, split)
            out[split] = scored
            logger.info(
                "[evaluate] %s on %s: %.3f (%d questions)", model, split, split_summary(scored)["score"], len(rows)
            )
    finally:
        if cache is not None:
            cache.close()
        if own_assessor and hasattr(assessor, "close"):
            assessor.close()
    return out
