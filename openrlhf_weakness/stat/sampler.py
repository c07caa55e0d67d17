"""``SkillWeightedSampler``: STAT-Sel as a sampler, a drop-in for OpenRLHF's ``DistributedSampler`` (whose
``set_epoch(epoch, consumed_samples)`` the SFT trainer calls to resume). Each epoch draws ``total`` indices with
replacement in proportion to the weights, from a generator seeded by seed + epoch; rank r takes positions r, r + R,
... of that one draw, so the shards are disjoint and together cover it."""

from __future__ import annotations

import numpy as np
import torch
from openrlhf.utils.distributed_sampler import DistributedSampler


class SkillWeightedSampler(DistributedSampler):
    def __init__(
        self,
        dataset,
        weights,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        total: int | None = None,
        consumed_samples: int = 0,
    ):
        super().__init__(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
            consumed_samples=consumed_samples,
        )
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if w.numel() != len(dataset):
            raise ValueError(f"{w.numel()} weights for a dataset of {len(dataset)} examples")
        if torch.any(w < 0) or not torch.any(w > 0) or not torch.isfinite(w).all():
            raise ValueError("weights must be finite, >= 0 and not all zero")
        self.weights = w
        total = len(dataset) if total is None else total
        self.num_samples = total // num_replicas  # drop_last: every rank draws the same number
        self.total_size = self.num_samples * num_replicas

    def draw(self) -> torch.Tensor:
        """This epoch's whole draw (all ranks)."""
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.multinomial(self.weights, self.total_size, replacement=True, generator=g)

    def __iter__(self):
        shard = self.draw()[self.rank : self.total_size : self.num_replicas]
        return iter(shard[self.consumed_indicies :].tolist())
