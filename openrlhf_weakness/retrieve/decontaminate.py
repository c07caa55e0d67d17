"""Word n-gram overlap against evaluation sets: a pool item sharing too many n-grams with any evaluation text is
dropped, so that retrieval never trains on what the model is later tested on."""

from __future__ import annotations

import re


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", str(text).lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class Decontaminator:
    def __init__(self, eval_texts: list[str], n: int = 8, threshold: float = 0.5):
        self.n, self.threshold = n, threshold
        self.grams: set[tuple[str, ...]] = set()
        for text in eval_texts:
            self.grams |= word_ngrams(text, n)

    def overlap(self, text: str) -> float:
        grams = word_ngrams(text, self.n)
        return len(grams & self.grams) / len(grams) if grams else 0.0

    def contaminated(self, text: str) -> bool:
        return bool(self.grams) and self.overlap(text) >= self.threshold
