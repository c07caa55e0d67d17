"""APT's preference pairs from bad cases and retrieved similar cases, in the format ``cli.train_apt`` (and OpenRLHF's
``RewardDataset``) reads: prompt / chosen / rejected, plus provenance (source, score, tags, retrieved_for,
iteration) and a weight. Rows without ``rejected`` train the SFT term only."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass

from openrlhf_weakness.config import flag
from openrlhf_weakness.data.labels import reference_text


@dataclass
class PairsConfig:
    """Pair building. What counts as bad (``--assess.bad_below``) and the iteration number are arguments of
    :func:`build_pairs`: the first is the assessor's setting, the second run state."""

    similar_rejected: str = flag(
        "self",
        "similar case's rejected answer: self (the model's own answer, APT's paper) "
        "or other_reference (another retrieved item's reference, APT's released scripts)",
        choices=["self", "other_reference"],
    )
    similar_good: str = flag(
        "keep_sft",
        "a similar case the model already answers well: keep_sft (SFT-only row) or " "drop",
        choices=["keep_sft", "drop"],
    )
    bad_weight: float = flag(1.0, "weight of rows built from bad cases")
    similar_weight: float = flag(1.0, "weight of rows built from similar cases")
    chosen: str = flag(
        "reference",
        "a bad case's chosen answer: reference (APT's paper) or self_correct (the "
        "model's own answer among --pairs.samples that the assessor scores at least "
        "--assess.bad_below, the reference where none is; rejection-sampled chosen, arXiv 2404.19733)",
        choices=["reference", "self_correct"],
    )
    rejected: str = flag(
        "greedy",
        "a bad case's rejected answer: greedy (the answer that made it bad, APT's "
        "paper) or sampled_wrong (a wrong answer among --pairs.samples, the greedy one where none "
        "is)",
        choices=["greedy", "sampled_wrong"],
    )
    samples: int = flag(
        0,
        "answers sampled per bad case (at --pairs.sample_temperature) for self_correct and " "sampled_wrong; 0: none",
    )
    sample_temperature: float = flag(0.8, "temperature of those samples")
    seed: int = flag(0, "seed for other_reference and sampled_wrong choices")
    general_data: str | None = flag(
        None, "general rows (question and reference, the --data.*_key columns) mixed into every training set"
    )
    general_ratio: float = flag(
        0.0, "share of each training set replaced by --pairs.general_data rows as SFT-only rows (same budget)"
    )

    def signature_fields(self) -> dict:
        """The fields a stage's signature reads: the general mix only when set, so run directories from before it
        are reused."""
        fields = asdict(self)
        if not self.general_ratio:
            fields.pop("general_data"), fields.pop("general_ratio")
        return fields


def bad_case_answers(row: dict, cfg: PairsConfig, resp: str, rng: random.Random, counts: Counter, bad_below: int):
    """(chosen or None for the reference, rejected) of a bad case, from its sampled ``responses``/``scores`` when
    the options ask for them; every fall-back is counted."""
    samples = [(a, s) for a, s in zip(row.get("responses") or [], row.get("scores") or []) if isinstance(a, str)]
    rejected = row[resp]
    if cfg.rejected == "sampled_wrong":
        wrong = [a for a, s in samples if s is not None and s < bad_below and a.strip()]
        if wrong:
            rejected = rng.choice(wrong)
        counts["bad_rejected_sampled" if wrong else "bad_rejected_greedy_fallback"] += 1
    chosen = None
    if cfg.chosen == "self_correct":
        right = [a for a, s in samples if s is not None and s >= bad_below and a.strip() and a != rejected]
        chosen = right[0] if right else None
        counts["bad_chosen_self" if right else "bad_chosen_reference_fallback"] += 1
    return chosen, rejected


def sft_only_rows(rows: list[dict], keys: dict[str, str], chat: bool, iteration: int, source: str) -> list[dict]:
    """Rows as SFT-only training rows (no rejected answer): the prompt and its reference as the chosen answer."""
    out = []
    for row in rows:
        chosen = reference_text(row[keys["reference"]])
        out.append(
            {
                "prompt": _as_chat(row[keys["prompt"]], "user") if chat else row[keys["prompt"]],
                "chosen": _as_chat(chosen, "assistant") if chat else chosen,
                "source": source,
                "score": None,
                "weight": 1.0,
                "iteration": iteration,
                "datasource": row.get("datasource"),
            }
        )
    return out


def _as_chat(text, role: str):
    return text if isinstance(text, list) else [{"role": role, "content": text}]


def build_pairs(
    bad: list[dict],
    similar: list[dict],
    cfg: PairsConfig,
    keys: dict[str, str],
    chat: bool = False,
    *,
    bad_below: int,
    iteration: int = 0,
) -> tuple[list[dict], Counter]:
    """``keys`` maps prompt, reference, response, score to the input rows' key names; an answer scoring below
    ``bad_below`` is bad (``--assess.bad_below``); ``iteration`` is written into every row."""
    p, ref, resp, score = keys["prompt"], keys["reference"], keys["response"], keys["score"]
    rng = random.Random(cfg.seed)
    counts: Counter = Counter()
    rows = []

    def emit(row_in: dict, source: str, rejected, weight: float, extra: dict, chosen=None) -> None:
        chosen = reference_text(row_in[ref]) if chosen is None else chosen
        row = {
            "prompt": _as_chat(row_in[p], "user") if chat else row_in[p],
            "chosen": _as_chat(chosen, "assistant") if chat else chosen,
        }
        if rejected is not None:
            row["rejected"] = _as_chat(rejected, "assistant") if chat else rejected
        row.update(source=source, score=row_in.get(score), weight=weight, iteration=iteration, **extra)
        rows.append(row)
        counts[f"{source}_{'pair' if rejected is not None else 'sft_only'}"] += 1

    for row in bad:
        chosen, rejected = bad_case_answers(row, cfg, resp, rng, counts, bad_below)
        extra = {"tags": row.get("tags", []), "datasource": row.get("datasource")}
        emit(row, "bad", rejected, cfg.bad_weight, extra, chosen)
    for i, row in enumerate(similar):
        extra = {
            "tags": row.get("tags", []),
            "retrieved_for": row.get("retrieved_for", []),
            "datasource": row.get("datasource"),
        }
        if cfg.similar_rejected == "other_reference":
            others = [j for j in range(len(similar)) if str(similar[j][ref]) != str(row[ref])]
            if not others:
                counts["similar_dropped_no_other_reference"] += 1
                continue
            emit(row, "similar", similar[rng.choice(others)][ref], cfg.similar_weight, extra)
        elif row.get(score) is not None and row[score] < bad_below:
            emit(row, "similar", row[resp], cfg.similar_weight, extra)
        elif cfg.similar_good == "keep_sft":
            emit(row, "similar", None, cfg.similar_weight, extra)
        else:
            counts["similar_dropped_answered_well"] += 1
    return rows, counts
