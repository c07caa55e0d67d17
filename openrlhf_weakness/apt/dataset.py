"""``RewardDataset`` that also carries APT's per-row facts: whether a rejected answer exists, a weight, a source.

Rows without a rejected answer (a similar case the model already answers well) train the SFT term only; they reuse
the chosen answer as a placeholder rejected sequence so that they share batches with full pairs.
"""

from __future__ import annotations

import torch
from openrlhf.datasets import RewardDataset

from openrlhf_weakness.apt.config import APTTrainConfig
from openrlhf_weakness.data.validate import valid_weight

NO_SOURCE = ""


def _missing(value) -> bool:
    return value is None or (isinstance(value, (str, list)) and len(value) == 0)


class APTRewardDataset(RewardDataset):
    """OpenRLHF's DPO dataset plus ``has_rejected``, ``weight`` and ``source`` per row (in its ``extra`` slot)."""

    def __init__(self, dataset, tokenizer, max_length, strategy, *args, apt: APTTrainConfig | None = None, **kwargs):
        self.apt = apt or APTTrainConfig()
        if len(dataset) == 0:
            raise ValueError("the APT training set is empty: no rows to train on")
        if self.apt.weight_key:
            if self.apt.weight_key not in dataset.column_names:
                raise ValueError(
                    f"key '{self.apt.weight_key}' (--apt.weight_key) is not a column of the training set "
                    f"{dataset.column_names}"
                )
            for row, weight in enumerate(dataset[self.apt.weight_key]):
                if not valid_weight(weight):
                    raise ValueError(
                        f"row {row}, key '{self.apt.weight_key}': weight must be a number >= 0, got {weight!r}"
                    )
        kwargs.setdefault("is_dpo", True)
        super().__init__(dataset, tokenizer, max_length, strategy, *args, **kwargs)
        self.sources = sorted({extra["source"] for extra in self.extras} - {NO_SOURCE})

    def process_data(self, data):
        data = dict(data)
        has_rejected = not _missing(data.get(self.rejected_key))
        if not has_rejected:
            data[self.rejected_key] = data[self.chosen_key]  # placeholder, masked out of the DPO term
        weight = data[self.apt.weight_key] if self.apt.weight_key else 1.0
        source = data.get(self.apt.source_key)
        out = super().process_data(data)
        out["extra"] = {
            "prompt_len": out["extra"],
            "has_rejected": has_rejected,
            "weight": float(weight),
            "source": NO_SOURCE if source is None else str(source),
        }
        return out

    def collate_fn(self, item_list):
        """OpenRLHF's five tensors (prompt lengths in the last slot) plus a dict of per-row APT tensors."""
        extras = [item[4] for item in item_list]
        chosen_ids, c_mask, reject_ids, r_mask, _ = super().collate_fn(item_list)
        meta = {
            "has_rejected": torch.tensor([e["has_rejected"] for e in extras], dtype=torch.bool),
            "weight": torch.tensor([e["weight"] for e in extras], dtype=torch.float32),
            "source": [e["source"] for e in extras],
        }
        return chosen_ids, c_mask, reject_ids, r_mask, [e["prompt_len"] for e in extras], meta
