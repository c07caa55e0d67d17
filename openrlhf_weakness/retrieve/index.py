"""faiss inner-product indexes over normalised vectors: exact for small pools, IVF or HNSW above a size threshold,
on the GPU when faiss-gpu finds one; optional restriction of a search to a set of ids (tag filtering)."""

from __future__ import annotations

import math

import numpy as np


def _as_f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def build_index(
    vectors: np.ndarray,
    kind: str = "auto",
    exact_max: int = 200_000,
    nlist: int | None = None,
    nprobe: int = 32,
    hnsw_m: int = 32,
    use_gpu: bool | None = None,
    chunk: int = 65_536,
):
    """An index over ``vectors`` (n x d, unit length) answering maximum inner product (= cosine)."""
    import faiss

    n, d = vectors.shape
    if n == 0:
        raise ValueError("cannot build an index over an empty pool")
    if kind == "auto":
        kind = "flat" if n <= exact_max else "ivf"
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))
        index.train(_as_f32(vectors[sample]))
        index.nprobe = min(nprobe, nlist)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        raise ValueError(f"unknown --retrieve.index {kind!r} (auto, flat, ivf, hnsw)")
    for start in range(0, n, chunk):
        index.add(_as_f32(vectors[start : start + chunk]))
    if use_gpu is None:
        use_gpu = hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
    if use_gpu and kind in ("flat", "ivf"):
        index = faiss.index_cpu_to_all_gpus(index)
    return index


def search(index, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) per query; ids -1 where fewer than k exist. ``allowed_ids`` restricts the search."""
    import faiss

    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    if allowed_ids is None:
        return index.search(_as_f32(queries), k)
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
    if isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    elif isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    else:
        params = faiss.SearchParameters(sel=selector)
    return index.search(_as_f32(queries), min(k, len(allowed_ids)), params=params)
