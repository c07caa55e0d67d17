"""OpenRLHF's ``SFTDataset`` that keeps a per-row STAT-Sel weight aligned with the rows it keeps (it drops prompts
longer than ``max_len``), for :class:`~openrlhf_weakness.stat.sampler.SkillWeightedSampler`."""

from __future__ import annotations

from openrlhf.datasets import SFTDataset

WEIGHT_COLUMN = "stat_weight"


class _Recorder:
    """Wraps a ``datasets.Dataset`` so that the result of the parent's ``map(...).filter(...)`` is kept."""

    def __init__(self, dataset, sink: list):
        self._dataset, self._sink = dataset, sink

    def __getattr__(self, name):
        return getattr(self._dataset, name)

    def __len__(self):
        return len(self._dataset)

    def map(self, *args, **kwargs):
        return _Recorder(self._dataset.map(*args, **kwargs), self._sink)

    def filter(self, *args, **kwargs):
        out = self._dataset.filter(*args, **kwargs)
        self._sink.append(out)
        return out


class StatSFTDataset(SFTDataset):
    def __init__(self, dataset, tokenizer, max_length, strategy, *args, weight_key: str | None = None, **kwargs):
        self.weight_key = weight_key if weight_key and weight_key in dataset.column_names else None
        kept: list = []
        super().__init__(_Recorder(dataset, kept), tokenizer, max_length, strategy, *args, **kwargs)
        self.stat_weights = list(kept[0][WEIGHT_COLUMN]) if self.weight_key else None

    def process_data(self, data):
        out = super().process_data(data)
        if self.weight_key:
            out[WEIGHT_COLUMN] = float(data[self.weight_key])
        return out
