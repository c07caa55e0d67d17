"""Baselines that tell the mechanism a method claims from a simpler one, at the same budget (issue 26):

- ``sft_error_rate``: rows drawn with weights by their category's dev error rate, no profile (re-weighting alone);
- ``sft_stratified``: a uniform draw within each category, to STAT-Sel's category counts (the data mix alone);
- ``stat_sel_inverted``: STAT-Sel's weights turned upside down, favouring what the student already knows;
- ``sft_apt_rows``: SFT on exactly APT's first-iteration rows, chosen answers only (the DPO term's part apart from the
  data APT selects);
- ``sft_uniform_redraw`` / ``sft_same_budget_redraw``: ``sft_uniform`` / ``sft_same_budget`` drawn again, the noise
  floors of the STAT and APT tables (two draws of one procedure).

None of them runs unless named in ``--compare.arms``.
"""

from __future__ import annotations

import random
from collections import Counter

from openrlhf_weakness.experiment.arms import arm, same_budget_draw, sft, stat_run, stat_run_dir, uniform_draw
from openrlhf_weakness.experiment.config import ExperimentError


def category_key(ctx) -> str:
    """The key that names a row's category: STAT's ``--stat.skill_key`` when set, else ``--data.datasource_key``."""
    return (ctx.stat.skill_key if ctx.stat and ctx.stat.skill_key else None) or ctx.data.keys.datasource_key


def _category(row: dict, key: str) -> str:
    value = row.get(key)
    return str(value[0] if isinstance(value, list) and value else value or "")


def dev_error_rates(ctx, seed: int) -> dict[str, float]:
    """Per category, the share of dev questions STAT's run found difficult for the student (its dev answers)."""
    from openrlhf_weakness.runner import read_jsonl

    stat_run(ctx, seed)
    answers = read_jsonl(stat_run_dir(ctx, seed, None) / "dev_answers.jsonl")
    key, seen, failed = category_key(ctx), Counter(), Counter()
    for row in answers:
        seen[_category(row, key)] += 1
        failed[_category(row, key)] += bool(row["difficult"])
    return {c: failed[c] / seen[c] for c in seen}


def _weighted_draw(rows: list[dict], weights: list[float], size: int, seed: int) -> list[dict]:
    import numpy as np

    from openrlhf_weakness.stat.profile import draw_from_weights

    values = np.asarray(weights, dtype=float)
    if not values.sum() > 0:
        raise ExperimentError("every row's weight is 0: nothing to draw")
    return [rows[i] for i in draw_from_weights(values, size, seed)]


@arm("sft_error_rate", "SFT on a draw weighted by each category's dev error rate (no profile), STAT-Sel's size", False)
def sft_error_rate(ctx, seed: int, plan):
    draw, _ = stat_run(ctx, seed)
    rates, key = dev_error_rates(ctx, seed), category_key(ctx)
    pool = ctx.rows("pool")
    per_category = Counter(_category(r, key) for r in pool)
    weights = [rates.get(_category(r, key), 0.0) / per_category[_category(r, key)] for r in pool]
    rows = _weighted_draw(pool, weights, len(draw), seed)
    return sft(ctx, plan, rows, "sft_error_rate", seed), {"rows": len(rows), "error_rates": rates}


@arm("sft_stratified", "SFT on a uniform draw within each category, to STAT-Sel's category counts", False)
def sft_stratified(ctx, seed: int, plan):
    draw, _ = stat_run(ctx, seed)
    key, rng = category_key(ctx), random.Random(seed)
    wanted = Counter(_category(r, key) for r in draw)
    by_category: dict[str, list[dict]] = {}
    for row in ctx.rows("pool"):
        by_category.setdefault(_category(row, key), []).append(row)
    rows = [rng.choice(by_category[c]) for c, n in sorted(wanted.items()) for _ in range(n) if by_category.get(c)]
    return sft(ctx, plan, rows, "sft_stratified", seed), {"rows": len(rows), "counts": dict(wanted)}


@arm("stat_sel_inverted", "SFT on a draw with STAT-Sel's weights inverted (favouring what the student knows)", False)
def stat_sel_inverted(ctx, seed: int, plan):
    draw, weighted = stat_run(ctx, seed)
    weights = [r["stat_weight"] for r in weighted]
    top, bottom = max(weights), min(weights)
    inverted = [top + bottom - w for w in weights]
    rows = _weighted_draw(weighted, inverted, len(draw), seed)
    return sft(ctx, plan, rows, "stat_sel_inverted", seed), {"rows": len(rows)}


@arm("sft_apt_rows", "SFT on exactly APT's first-iteration rows (chosen answers only): the DPO term's part", False)
def sft_apt_rows(ctx, seed: int, plan):
    from openrlhf_weakness.backends.base import message_text
    from openrlhf_weakness.experiment.arms import _first_pairs
    from openrlhf_weakness.runner import read_jsonl

    pairs, _ = _first_pairs(ctx, seed, plan)
    keys = ctx.data.keys
    found = read_jsonl(pairs)
    rows = [{keys.input_key: message_text(p["prompt"])} for p in found]
    targets = [message_text(p["chosen"]) for p in found]
    return sft(ctx, plan, rows, "sft_apt_rows", seed, targets=targets), {"rows": len(rows)}


@arm("sft_uniform_redraw", "a second, independent uniform draw of sft_uniform's size: the table's noise floor", False)
def sft_uniform_redraw(ctx, seed: int, plan):
    """The same procedure as ``sft_uniform`` with another draw of rows: its gap to ``sft_uniform`` is what a
    difference looks like when there is none."""
    rows = uniform_draw(ctx, seed, f"redraw-{seed}")
    return sft(ctx, plan, rows, "sft_uniform_redraw", seed), {"rows": len(rows)}


@arm(
    "sft_same_budget_redraw",
    "a second, independent draw of sft_same_budget's rows: the APT table's noise floor",
    False,
)
def sft_same_budget_redraw(ctx, seed: int, plan):
    rows = same_budget_draw(ctx, seed, plan, f"redraw-{seed}")
    return sft(ctx, plan, rows, "sft_same_budget_redraw", seed), {"rows": len(rows)}
