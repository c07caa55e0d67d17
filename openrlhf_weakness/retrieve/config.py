"""The ``--retrieve.*`` flags."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag


@dataclass
class RetrieveConfig:
    """Similar-case retrieval (APT's tag-based similarity)."""

    embedder: str = flag("all-MiniLM-L6-v2", "sentence-transformers model path or name (default: offline MiniLM)")
    batch_size: int = flag(64, "texts per embedding batch")
    cache_dir: str = flag(".cache/embeddings", "pool embedding cache, keyed by the pool file's content")
    dtype: str = flag(
        "float32",
        "stored embedding type (float16 halves the disk and memory of large pools)",
        choices=["float32", "float16"],
    )
    tagger: str = flag(
        "field",
        "field (a dataset key), llm (open tags through --gen.*), kmeans (embedding clusters)",
        choices=["field", "llm", "kmeans"],
    )
    tag_key: str = flag("datasource", "field tagger: key holding a tag or a list of tags (bad cases and pool)")
    num_clusters: int = flag(32, "kmeans tagger: clusters")
    mode: str = flag(
        "per_tag",
        "per_tag (APT's quota per tag) or per_case (each bad case's own neighbours)",
        choices=["per_tag", "per_case"],
    )
    scale: float = flag(1.0, "similar cases per bad case (APT: 1x best; 2x, 3x add noise)")
    index: str = flag(
        "auto",
        "auto (exact up to --retrieve.exact_max rows, else IVF), flat, ivf, hnsw",
        choices=["auto", "flat", "ivf", "hnsw"],
    )
    exact_max: int = flag(200_000, "largest pool searched exactly under --retrieve.index auto")
    nprobe: int = flag(32, "IVF lists visited per query")
    mmr_lambda: float | None = flag(None, "maximal marginal relevance (1 = pure similarity; e.g. 0.7 for diversity)")
    dedup_threshold: float = flag(
        0.95, "cosine at or above which a candidate is a near duplicate (of a bad case or " "of a case already chosen)"
    )
    decontam_ngram: int = flag(8, "n of the word n-grams compared with the evaluation files")
    decontam_threshold: float = flag(0.5, "fraction of a pool item's n-grams found in an evaluation file to drop it")
