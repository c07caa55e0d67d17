"""What every arm of an experiment shares: the student, the user's data and settings, the shared training plan."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from openrlhf_weakness.experiment.config import CompareConfig, ExperimentData, ExperimentError

SPLITS = ("dev", "guard", "test")  # the held-out splits a model is scored on (those given)


@dataclass
class ExperimentContext:
    """``gen``/``assess``/``judge``/``teacher``/``retrieve``/``pairs``/``loop``/``stat`` are the user's ``--gen.*``,
    ``--assess.*``, ... settings; ``plan`` the training flags after ``--`` (a TrainingPlan for cli.train_apt)."""

    model: str
    data: ExperimentData
    compare: CompareConfig
    plan: object
    gen: object
    assess: object
    judge: object = None
    teacher: object = None
    retrieve: object = None
    pairs: object = None
    loop: object = None
    stat: object = None
    _rows: dict = field(default_factory=dict, repr=False)
    memo: dict = field(default_factory=dict, repr=False)  # per-seed runs shared by arms (APT's loop, STAT's pipeline)

    @property
    def work(self) -> Path:
        return Path(self.compare.work_dir)

    @property
    def keys(self):
        from openrlhf_weakness.assess.answer import RowKeys

        return RowKeys(self.data.keys.input_key, self.data.keys.reference_key)

    def splits(self) -> tuple[str, ...]:
        wanted = ("dev", "guard") if self.compare.dev_only_enable else SPLITS
        return tuple(s for s in wanted if getattr(self.data, s))

    def rows(self, split: str) -> list[dict]:
        """A data file's rows (each with the question and the reference), read once."""
        if split not in self._rows:
            self._rows[split] = load_split(
                getattr(self.data, split), [self.data.keys.input_key, self.data.keys.reference_key]
            )
        return self._rows[split]

    def general_rows(self) -> list[dict]:
        """``--pairs.general_data``: general rows mixed into every arm's training set (none unless set)."""
        if not (self.pairs and self.pairs.general_data):
            return []
        if "general" not in self._rows:
            keys = [self.data.keys.input_key, self.data.keys.reference_key]
            self._rows["general"] = load_split(self.pairs.general_data, keys)
        return self._rows["general"]

    def student_gen(self, model: str | None = None):
        return dataclasses.replace(self.gen, model=model or self.model)

    def sft_target(self, row: dict):
        """What an SFT arm trains on for a row: ``--data.output_key``, else the reference as text (a label's worked
        ``solution`` or its answer)."""
        from openrlhf_weakness.data.labels import reference_text

        if self.data.keys.output_key:
            return row[self.data.keys.output_key]
        return reference_text(row[self.data.keys.reference_key])


def load_split(path: str, keys: list[str]) -> list[dict]:
    """Every row of ``path`` having ``keys`` (``data.inputs.read_input``), its errors as :class:`ExperimentError`."""
    from openrlhf_weakness.data.inputs import read_input
    from openrlhf_weakness.io import DataError

    try:
        return list(read_input(path, keys))
    except DataError as err:
        raise ExperimentError(str(err)) from None
