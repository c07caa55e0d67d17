"""The STAT pipeline's settings: ``--stat.*`` (StatConfig) and ``--data.*`` (StatData), each flag declared once here."""

from __future__ import annotations

from dataclasses import dataclass, field

from openrlhf_weakness.config import flag
from openrlhf_weakness.data.keys import DataKeys

# STAT's rows: a question and its solution (training data), a question and its reference (dev)
STAT_KEY_DEFAULTS = {"input_key": "input", "output_key": "output"}


@dataclass
class StatConfig:
    """STAT stages."""

    run_dir: str = flag("runs/stat", "run directory")
    skill_list: str | None = flag(None, "a file with one skill per line (else the teacher derives the list)")
    skill_key: str | None = flag(None, "dataset key holding each example's skill(s): no teacher needed for labels")
    skill_sample: int = flag(50, "training questions shown to the teacher to derive the skill list")
    max_skills: int = flag(5, "skills per labelled question")
    samples: int = flag(1, "student answers per dev question")
    difficulty: str = flag(
        "correctness",
        "correctness (majority of answers wrong), consistency (the most common "
        "of the answers appears fewer than 2 times) or prm (a process reward model's step scores, "
        "thresholds 0.85 / 0.85 / 0.7)",
        choices=["correctness", "consistency", "prm"],
    )
    prm_path: str | None = flag(None, "prm: Python file defining step_scores(question, answer) -> list of floats")
    k: int = flag(5, "STAT-Sel: examples drawn from map(s) per (difficult question, missing skill)")
    size: int = flag(
        0,
        "STAT-Sel: size of the materialised set (0: k per (difficult question, missing skill), "
        "the paper's algorithm; a fixed size makes k cancel)",
    )
    seed: int = flag(0, "sampling seed")
    syn_enable: bool = flag(False, "run STAT-Syn (needs a teacher)")
    syn_per_pair: int = flag(2, "STAT-Syn: new questions per (difficult question, missing skill)")
    syn_solutions: int = flag(3, "STAT-Syn: teacher solutions per new question (at least 2 must agree)")


@dataclass
class StatData:
    """STAT's data files and keys."""

    train: str | None = flag(None, "training data: question and solution per row", required=True)
    dev: str | None = flag(
        None, "dev questions with references: the student's failures on them are profiled", required=True
    )
    test: str | None = flag(None, "test questions: STAT-Syn drops near-duplicates of them")
    ledger: str | None = flag(None, "weakness ledger: its failures join the difficult questions")
    keys: DataKeys = field(default_factory=lambda: DataKeys(**STAT_KEY_DEFAULTS))  # --data.*_key (data/keys.py)


@dataclass
class StatSamplerConfig:
    """STAT-Sel sampling (added to every flag of openrlhf.cli.train_sft)."""

    weight_key: str = flag("stat_weight", "per-row weight key ('' = no sampler)")
    total: int = flag(0, "draws per epoch (0: the dataset's size)")
