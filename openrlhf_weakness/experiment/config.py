"""The ``--compare.*``, ``--data.*`` and ``--eval.*`` flags of ``cli.compare`` and ``cli.evaluate``."""

from __future__ import annotations

from dataclasses import dataclass, field

from openrlhf_weakness.config import flag
from openrlhf_weakness.data.keys import DataKeys
from openrlhf_weakness.experiment.controlled import WEAK


class ExperimentError(ValueError):
    """An experiment cannot run as asked (the message names the flag, file or arm)."""


@dataclass
class ExperimentData:
    """The user's data files and their columns (every file is read as ``--data.*`` inputs are)."""

    train: str | None = flag(None, "domain training data with references (APT answers it; SFT draws from it)")
    pool: str | None = flag(None, "retrieval pool / STAT-Sel training data with references")
    dev: str | None = flag(None, "dev split: APT's stop rule, STAT's profile, choosing settings")
    test: str | None = flag(None, "held-out test split: the reported numbers (scored once per final model)")
    guard: str | None = flag(None, "general-capability guard set with references")
    # the --data.*_key columns (data/keys.py); output_key: an SFT target, by default (None) the reference as text
    keys: DataKeys = field(default_factory=lambda: DataKeys(output_key=None))


def experiment_data(group) -> ExperimentData:
    """``--data.*`` (files and ``--data.*_key`` columns) as an :class:`ExperimentData`."""
    from dataclasses import replace

    from openrlhf_weakness.config import from_namespace

    keys = from_namespace(DataKeys, group)
    return replace(from_namespace(ExperimentData, group), keys=replace(keys, output_key=keys.output_key or None))


@dataclass
class CompareConfig:
    """The experiment: which arms, how many training seeds, where results go."""

    arms: str = flag("apt,sft_same_budget", "comma-separated arms (the untrained base model is always scored)")
    seeds: int = flag(2, "training seeds per arm (seed i of every arm is paired)")
    work_dir: str = flag("runs/compare", "data, models, per-(arm, seed) results; a rerun resumes")
    preset: str | None = flag(
        None,
        "controlled (a small Llama pre-trained in-process on letter skills) or real (SmolLM2-135M-Instruct on "
        "reasoning-gym arithmetic): builds the data and model and fills the flags you leave out",
        choices=["controlled", "real"],
    )
    data_seed: int = flag(1, "preset: seed of the data (and of the controlled setting's split)")
    pretrain_steps: int = flag(3000, "preset controlled: pre-training steps of the student")
    pretrain_weak: int = flag(200, "preset controlled: pre-training questions per weak skill (the others: 1500)")
    weak_skills: str = flag(
        ",".join(WEAK), "preset controlled: the skills pre-trained on --compare.pretrain_weak questions only"
    )
    out: str | None = flag(None, "summary JSON (markdown, plot and per-question scores beside it); default work_dir")
    dev_only_enable: bool = flag(False, "score dev and guard only and compare on dev (choosing settings)")
    preregistration: str | None = flag(
        None,
        "pre-registration JSON (experiment.preregistration) whose settings hash must match this run's before test is "
        "scored; its hash and the registered comparisons' verdicts go into the summary. Without it a run is "
        "exploratory and its table says so",
    )
    register: str | None = flag(
        None,
        "a JSON spec (title, metric, comparisons, noise_floors: docs/experiments.md) to register: writes "
        "--compare.preregistration with this run's settings hash and stops, before anything is trained or scored",
    )


@dataclass
class EvalConfig:
    """Models to score without training."""

    models: list = field(default_factory=list)  # --eval.models, comma-separated or repeated (declared by cli.evaluate)
    work_dir: str = flag("runs/evaluate", "per-model results, the table and per-question scores")
