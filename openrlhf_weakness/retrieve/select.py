"""Choosing similar cases for APT's bad cases.

``per_tag`` (APT's released code, the default): every tag t of the bad cases gets a quota
max(1, ceil(w_t * |bad| * scale)) with w_t = (bad cases with t) / (sum over tags); pool items carrying t are ranked by
cosine to the mean embedding of the bad cases with t. ``per_case``: each bad case takes its own quota from pool items
sharing a tag with it, ranked by cosine to it. Either way: union, deduplication, optional MMR diversity, and a
counted fall-back to untagged similarity where no pool item shares a tag.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from openrlhf_weakness.retrieve.index import search


@dataclass
class Selection:
    pool_ids: list[int] = field(default_factory=list)  # chosen pool rows, in order of choice
    similarity: dict[int, float] = field(default_factory=dict)  # pool id -> cosine to the query that chose it
    retrieved_for: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # pool id -> bad cases
    via_tag: dict[int, str] = field(default_factory=dict)  # pool id -> the tag (or "(untagged)") it was chosen for
    stats: Counter = field(default_factory=Counter)
    hits_per_tag: Counter = field(default_factory=Counter)


def tag_quotas(bad_tags: list[list[str]], scale: float) -> dict[str, int]:
    """APT's quota per tag over the tagged bad cases (untagged ones are served by plain similarity)."""
    counts = Counter(t for tags in bad_tags for t in tags)
    total, tagged = sum(counts.values()), sum(1 for tags in bad_tags if tags)
    return {t: max(1, math.ceil(c / total * tagged * scale)) for t, c in counts.items()} if total else {}


def mmr(query: np.ndarray, cand_vectors: np.ndarray, cand_scores: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: positions (into the candidates) trading relevance against redundancy."""
    chosen: list[int] = []
    best_redundancy = np.full(len(cand_scores), -np.inf)
    available = np.ones(len(cand_scores), dtype=bool)
    for _ in range(min(k, len(cand_scores))):
        redundancy = np.where(np.isfinite(best_redundancy), best_redundancy, 0.0)
        value = np.where(available, lam * cand_scores - (1 - lam) * redundancy, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        best_redundancy = np.maximum(best_redundancy, cand_vectors @ cand_vectors[pick])
    return chosen


def normalized_text(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


class SimilarCaseSelector:
    """Holds the pool (vectors, tags, texts, an index) and chooses similar cases for sets of bad cases."""

    def __init__(
        self,
        pool_vectors: np.ndarray,
        pool_tags: list[list[str]],
        pool_texts: list[str],
        index,
        dedup_threshold: float = 0.95,
        mmr_lambda: float | None = None,
        candidate_factor: int = 4,
        blocked: list[str | None] | None = None,
    ):
        """``blocked[i]`` names why pool row i may not be chosen (e.g. "contaminated"); rows without text are blocked
        as "empty_text" automatically."""
        self.vectors, self.tags, self.texts, self.index = pool_vectors, pool_tags, pool_texts, index
        self.dedup_threshold, self.mmr_lambda, self.candidate_factor = dedup_threshold, mmr_lambda, candidate_factor
        groups = defaultdict(list)
        for i, tags in enumerate(pool_tags):
            for t in tags:
                groups[t].append(i)
        self.by_tag: dict[str, np.ndarray] = {t: np.asarray(ids, dtype=np.int64) for t, ids in groups.items()}
        self.blocked = list(blocked) if blocked is not None else [None] * len(pool_texts)
        for i, text in enumerate(pool_texts):
            if not str(text or "").strip():
                self.blocked[i] = "empty_text"

    def _ranked(self, query: np.ndarray, want: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Candidates for one query vector: more than wanted, so that dedup and MMR have room."""
        k = max(want * self.candidate_factor, want + 8)
        scores, ids = search(self.index, query[None, :], k, allowed)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def select(
        self,
        bad_vectors: np.ndarray,
        bad_tags: list[list[str]],
        bad_texts: list[str],
        scale: float = 1.0,
        mode: str = "per_tag",
    ) -> Selection:
        if len(self.texts) == 0:
            raise ValueError("the retrieval pool is empty")
        sel = Selection()
        taken_vectors: list[np.ndarray] = [v for v in np.asarray(bad_vectors, dtype=np.float32)]
        seen_texts = {normalized_text(t) for t in bad_texts}
        for reason in self.blocked:
            if reason:
                sel.stats[f"pool_rows_{reason}"] += 1
        if mode == "per_tag":
            jobs = []
            for tag, quota in sorted(tag_quotas(bad_tags, scale).items()):
                members = [i for i, tags in enumerate(bad_tags) if tag in tags]
                centre = np.asarray(bad_vectors)[members].mean(axis=0)
                jobs.append((tag, members, centre / max(np.linalg.norm(centre), 1e-12), quota, self.by_tag.get(tag)))
            untagged = [i for i, tags in enumerate(bad_tags) if not tags]
            if untagged:  # bad cases without any tag still get neighbours, by plain similarity
                quota = max(1, math.ceil(len(untagged) * scale))
                centre = np.asarray(bad_vectors)[untagged].mean(axis=0)
                jobs.append(("", untagged, centre / max(np.linalg.norm(centre), 1e-12), quota, None))
        elif mode == "per_case":
            quota = max(1, round(scale))
            jobs = []
            for i, tags in enumerate(bad_tags):
                allowed = [self.by_tag[t] for t in tags if t in self.by_tag]
                ids = np.unique(np.concatenate(allowed)) if allowed else None
                jobs.append((",".join(tags), [i], np.asarray(bad_vectors[i], dtype=np.float32), quota, ids))
        else:
            raise ValueError(f"unknown --retrieve.mode {mode!r} (per_tag, per_case)")

        for tag, members, query, quota, allowed in jobs:
            if allowed is None or len(allowed) == 0:
                sel.stats["fallback_untagged"] += 1 if tag else 0
                allowed = None
            scores, ids = self._ranked(query, quota, allowed)
            order = range(len(ids))
            if self.mmr_lambda is not None and self.mmr_lambda < 1 and len(ids):
                order = mmr(query, np.asarray(self.vectors[ids], dtype=np.float32), scores, len(ids), self.mmr_lambda)
            got = 0
            for pos in order:
                if got >= quota:
                    break
                pid = int(ids[pos])
                if pid in sel.similarity:  # already chosen for another tag or case: union
                    sel.retrieved_for[pid].extend(members)
                    sel.stats["already_chosen"] += 1
                    continue
                if self.blocked[pid]:
                    sel.stats[f"dropped_{self.blocked[pid]}"] += 1
                    continue
                text = normalized_text(self.texts[pid])
                if text in seen_texts:
                    sel.stats["dropped_exact_duplicate"] += 1
                    continue
                vec = np.asarray(self.vectors[pid], dtype=np.float32)
                if taken_vectors and float(np.max(np.stack(taken_vectors) @ vec)) >= self.dedup_threshold:
                    sel.stats["dropped_near_duplicate"] += 1
                    continue
                seen_texts.add(text)
                taken_vectors.append(vec)
                sel.pool_ids.append(pid)
                sel.similarity[pid] = float(scores[pos])
                sel.retrieved_for[pid].extend(members)
                sel.via_tag[pid] = tag or "(untagged)"
                sel.hits_per_tag[tag or "(untagged)"] += 1
                got += 1
            if got < quota:
                sel.stats["quota_short"] += quota - got
        return sel
