"""Skill names as teachers write them differ in case, spacing, underscores and spelling: normalise, then match to
the skill list (exactly, else by close spelling); what matches nothing is dropped and counted, never guessed."""

from __future__ import annotations

import difflib
from collections import Counter

from openrlhf_weakness.retrieve.tags import normalize_tag


def normalize_skill(name: str) -> str:
    """A tag's normalisation (case, ``_``, ``-``, spaces), plus the punctuation teachers wrap names in."""
    return normalize_tag(name).strip(".,;:'\"`*")


class SkillList:
    def __init__(self, names: list[str], source: str = "skill list", cutoff: float = 0.85):
        self.cutoff = cutoff
        self.names: list[str] = []
        self.duplicates = 0
        seen = set()
        for i, name in enumerate(names):
            key = normalize_skill(name)
            if not key:
                raise ValueError(f"{source}: entry {i + 1} is an empty skill name")
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            self.names.append(key)
        if not self.names:
            raise ValueError(f"{source}: no skills")
        self._set = set(self.names)
        self.dropped: Counter = Counter()

    def __len__(self) -> int:
        return len(self.names)

    def match(self, name: str) -> str | None:
        """The list's name for ``name``, or None (counted in ``dropped``)."""
        key = normalize_skill(name)
        if key in self._set:
            return key
        close = difflib.get_close_matches(key, self.names, n=1, cutoff=self.cutoff) if key else []
        if close:
            return close[0]
        self.dropped[key or "(empty)"] += 1
        return None

    def resolve(self, names: list[str], limit: int | None = None) -> list[str]:
        """Matched, de-duplicated names in their order, at most ``limit``."""
        out: list[str] = []
        for name in names:
            hit = self.match(name)
            if hit and hit not in out:
                out.append(hit)
        return out[:limit] if limit else out
