"""Taggers: tags from a dataset field, open tags from an LLM (InsTag's spirit), or k-means clusters of embeddings."""

from __future__ import annotations

import json
import re

import numpy as np

INSTAG_PROMPT = (
    "You are a helpful assistant. Please identify tags of user intentions in the following user query and provide an "
    "explanation for each tag. Please respond in the JSON format "
    '[{{"tag": str, "explanation": str}}].\nUser query: {query}'
)


def normalize_tag(tag: str) -> str:
    """Case, underscores, hyphens and runs of spaces do not make tags different."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", str(tag))).strip().lower()


def field_tags(rows: list[dict], key: str) -> list[list[str]]:
    """Tags from ``row[key]``: a string or a list of strings; a missing value gives no tags."""
    out = []
    for row in rows:
        value = row.get(key)
        values = value if isinstance(value, list) else ([] if value is None else [value])
        out.append(sorted({normalize_tag(v) for v in values if str(v).strip()}))
    return out


def parse_llm_tags(text: str) -> list[str]:
    """Tags from an InsTag-style answer: a JSON list of {"tag": ...} or of strings; else comma-separated words."""
    match = re.search(r"\[.*\]", text or "", re.S)
    if match:
        try:
            items = json.loads(match.group(0))
            tags = [i.get("tag") if isinstance(i, dict) else i for i in items]
            return sorted({normalize_tag(t) for t in tags if isinstance(t, str) and t.strip()})
        except ValueError:
            pass
    return sorted({normalize_tag(t) for t in re.split(r"[,\n;]", text or "") if 0 < len(t.strip()) <= 40})


TAG_REMINDER = 'Reply again with the tags only, as a JSON list: [{"tag": "...", "explanation": "..."}].'


def llm_tags(texts: list[str], backend, params, cache=None, parse_retries: int = 0):
    """InsTag tags per text (empty where even the retries gave none) and the tagger's :class:`ParseReport`."""
    from openrlhf_weakness.backends.parsed import generate_parsed

    prompts = [INSTAG_PROMPT.format(query=t) for t in texts]
    values, _, report = generate_parsed(
        backend,
        prompts,
        params,
        lambda text: parse_llm_tags(text) or None,
        parse_retries,
        TAG_REMINDER,
        "tagger",
        cache,
    )
    return [tags or [] for tags in values], report


def kmeans_tags(
    pool_vectors: np.ndarray, query_vectors: np.ndarray, k: int, seed: int = 0, max_train: int = 100_000
) -> tuple[list[list[str]], list[list[str]]]:
    """Cluster the pool (a sample of it) with faiss k-means; every item's tag is its nearest cluster."""
    import faiss

    n, d = pool_vectors.shape
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, max_train), replace=False))
    km = faiss.Kmeans(d, k, niter=20, seed=seed, spherical=True, min_points_per_centroid=1, verbose=False)
    km.train(np.ascontiguousarray(pool_vectors[sample], dtype=np.float32))

    def assign(vectors: np.ndarray) -> list[list[str]]:
        if len(vectors) == 0:
            return []
        _, ids = km.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
        return [[f"cluster {int(i)}"] for i in ids[:, 0]]

    return assign(pool_vectors), assign(query_vectors)
