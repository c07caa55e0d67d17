"""The skill map (skill -> training examples), the Missing-Skill-Profile (skill -> how many difficult questions miss
it), and STAT-Sel's per-example weights, vectorised so that a million examples take seconds.

weight(p) = sum over the skills s of p of count(s) * k / |map(s)|: the chance that STAT's algorithm (for every
difficult question q and missing skill s of q, draw k examples from map(s)) draws p.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SkillMap:
    names: list[str]  # skill id -> name
    ids: np.ndarray  # concatenated skill ids of every example (int32)
    offsets: np.ndarray  # example i owns ids[offsets[i]:offsets[i + 1]]
    sizes: np.ndarray = field(init=False)  # |map(s)| per skill id

    def __post_init__(self):
        self.sizes = np.bincount(self.ids, minlength=len(self.names)).astype(np.int64)

    @property
    def n_examples(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_labels(cls, labels: list[list[str]], names: list[str] | None = None) -> "SkillMap":
        names = list(names) if names is not None else sorted({s for row in labels for s in row})
        index = {n: i for i, n in enumerate(names)}
        lengths = np.fromiter((len(row) for row in labels), dtype=np.int64, count=len(labels))
        offsets = np.zeros(len(labels) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter((index[s] for row in labels for s in row), dtype=np.int32, count=int(offsets[-1]))
        return cls(names, ids, offsets)

    def members_by_skill(self) -> dict[str, np.ndarray]:
        """map(s) for every skill with examples, in one pass: the examples carrying s, sorted."""
        owner = np.repeat(np.arange(self.n_examples), np.diff(self.offsets))
        order = np.argsort(self.ids, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        return {
            name: np.unique(owner[order[bounds[s] : bounds[s + 1]]])
            for s, name in enumerate(self.names)
            if self.sizes[s]
        }

    def members(self, skill: str) -> np.ndarray:
        return self.members_by_skill().get(skill, np.zeros(0, dtype=np.int64))


def missing_skill_profile(missing: list[list[str]]) -> Counter:
    """count(s) = number of difficult questions whose missing skills include s."""
    return Counter(s for skills in missing for s in set(skills))


def sel_weights(skill_map: SkillMap, profile: dict[str, int], k: int = 5) -> tuple[np.ndarray, dict]:
    """Per-example weights and a report of what was dropped; raises when every weight would be zero."""
    index = {n: i for i, n in enumerate(skill_map.names)}
    per_skill = np.zeros(len(skill_map.names), dtype=np.float64)
    report = {
        "profile_skills_not_in_map": sorted(s for s in profile if s not in index),
        "map_skills_without_examples": [n for n, c in zip(skill_map.names, skill_map.sizes) if c == 0],
    }
    for skill, count in profile.items():
        sid = index.get(skill)
        if sid is not None and skill_map.sizes[sid] > 0:
            per_skill[sid] = count * k / skill_map.sizes[sid]
    contrib = per_skill[skill_map.ids]
    weights = np.zeros(skill_map.n_examples, dtype=np.float64)
    nonempty = np.diff(skill_map.offsets) > 0
    if contrib.size:
        sums = np.add.reduceat(contrib, skill_map.offsets[:-1][nonempty])
        weights[nonempty] = sums
    report["examples_without_skills"] = int((~nonempty).sum())
    report["examples_with_zero_weight"] = int((weights == 0).sum())
    if not np.any(weights > 0):
        raise ValueError(
            "no training example carries a skill of the profile: every STAT-Sel weight would be 0 "
            f"(profile skills not in the map: {report['profile_skills_not_in_map'][:10]})"
        )
    return weights, report


def per_pair_draw(skill_map: SkillMap, missing: list[list[str]], k: int, seed: int = 0) -> list[int]:
    """STAT's algorithm literally: for every difficult question and missing skill, k examples from map(s), repeats kept."""
    rng = np.random.default_rng(seed)
    members = skill_map.members_by_skill()
    out: list[int] = []
    for skills in missing:
        for s in set(skills):
            if s in members:
                out.extend(int(i) for i in rng.choice(members[s], size=k, replace=True))
    return out


def draw_from_weights(weights: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """A materialised STAT-Sel set of ``size`` examples drawn with the weights (repeats are the weighting)."""
    p = weights / weights.sum()
    return np.random.default_rng(seed).choice(len(weights), size=size, replace=True, p=p)


def prm_difficult(
    step_scores: list[float], last_max: float = 0.85, mean_max: float = 0.85, early_max: float = 0.7
) -> bool:
    """STAT's rule on a process reward model's step scores: the last step <= 0.85, or the mean <= 0.85, or any
    earlier step <= 0.7. No steps counts as difficult."""
    if not step_scores:
        return True
    return (
        step_scores[-1] <= last_max
        or sum(step_scores) / len(step_scores) <= mean_max
        or any(s <= early_max for s in step_scores[:-1])
    )
