"""Scoring a model on held-out splits with the user's ``--gen.*`` and ``--assess.*`` settings: ``cli.compare`` and
``cli.evaluate`` score through the same :class:`~openrlhf_weakness.assess.scoring.ScoringSession` as the APT loop's
evaluation stage, so a number means the same wherever it is read."""

from __future__ import annotations

import logging
import os

from openrlhf_weakness.assess.scoring import split_score

logger = logging.getLogger(__name__)


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
    """Every split's rows answered by ``model`` and assessed: ``{split: scored rows}`` (``response``, ``score``,
    ``feedback``, ``bad``). Answers are cached in ``gen.cache_dir`` or else ``cache_dir`` (none with
    ``gen.no_cache_enable``); pass ``assessor`` to reuse one across models."""
    from pathlib import Path

    from openrlhf_weakness.assess.scoring import ScoringSession
    from openrlhf_weakness.backends.cache import DEFAULT_CACHE_DIR

    session = ScoringSession(
        gen, assess, judge, keys, Path(cache_dir or DEFAULT_CACHE_DIR), assessor_override=assessor
    )
    out = {}
    try:
        for split, rows in splits.items():
            out[split] = session.answer(model, rows, split)
            score = split_score(out[split])["score"]
            logger.info("[evaluate] %s on %s: %.3f (%d questions)", model, split, score, len(rows))
    finally:
        session.close()
    return out
