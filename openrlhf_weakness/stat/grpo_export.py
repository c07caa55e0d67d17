"""Rows for OpenRLHF's GRPO (``--data.prompt_dataset``) from STAT's selection: each keeps its question, carries its
answer and skill in a JSON label (what this project's reward hook reads) and its skill as a top-level ``datasource``,
so OpenRLHF logs ``eval_<skill>_pass1`` and ``--ckpt.best_metric_key`` can keep the checkpoint best on a weak skill."""

from __future__ import annotations

import json


def grpo_prompt_rows(rows: list[dict], skills: list[list[str]], input_key: str, answer_key: str) -> list[dict]:
    """One RL prompt row per training row: ``input``, ``label`` ({"answer", "datasource", "question"} as JSON: the
    question lets the ledger keep it as written, not as the chat template made it), ``datasource`` (the row's first
    skill, "default" without one, as OpenRLHF names rows without a datasource)."""
    out = []
    for row, row_skills in zip(rows, skills):
        skill = str(row_skills[0]) if row_skills else "default"
        label = {"answer": row[answer_key], "datasource": skill, "question": row[input_key]}
        label = json.dumps(label, ensure_ascii=False)
        out.append({"input": row[input_key], "label": label, "datasource": skill})
    return out
