"""faiss indexes: exact top-k equals numpy brute force; the approximate index keeps recall on structured data."""

from __future__ import annotations

import numpy as np
import pytest

from openrlhf_weakness.retrieve.index import build_index, search


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def planted_clusters(n: int, d: int, clusters: int, noise: float, seed: int = 0) -> np.ndarray:
    """A mixture of tight clusters around random centres (structure, unlike uniform random vectors)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((clusters, d)))
    return _unit(centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d)))


def test_exact_index_top_k_equals_numpy_brute_force():
    rng = np.random.default_rng(1)
    pool, queries = _unit(rng.standard_normal((4000, 48))), _unit(rng.standard_normal((50, 48)))
    scores, ids = search(build_index(pool, kind="flat"), queries, 10)
    brute = pool @ queries.T
    expected = np.argsort(-brute, axis=0)[:10].T
    assert np.array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(brute.T, expected, axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_recall_at_10_on_planted_clusters(kind):
    data = planted_clusters(30_300, 64, clusters=200, noise=0.06)
    pool, queries = data[:30_000], data[30_000:]  # queries drawn from the same clusters as the pool
    _, truth = search(build_index(pool, kind="flat"), queries, 10)
    _, got = search(build_index(pool, kind=kind, nprobe=32), queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
    assert recall >= 0.95, recall


def test_auto_picks_exact_below_the_threshold_and_ivf_above():
    import faiss

    pool = planted_clusters(3000, 16, 20, 0.3)
    assert isinstance(build_index(pool, kind="auto", exact_max=5000), faiss.IndexFlatIP)
    assert isinstance(build_index(pool, kind="auto", exact_max=1000), faiss.IndexIVFFlat)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_id_filtered_search_returns_only_allowed_ids(kind):
    pool = planted_clusters(5000, 32, 50, 0.3)
    allowed = np.arange(0, 5000, 7)
    _, ids = search(build_index(pool, kind=kind), pool[:20], 10, allowed_ids=allowed)
    found = ids[ids >= 0]
    assert len(found) > 0 and np.isin(found, allowed).all()


def test_pool_smaller_than_k_and_empty_pool():
    pool = planted_clusters(3, 8, 2, 0.1)
    _, ids = search(build_index(pool), pool[:1], 10)
    assert ids.shape == (1, 3) and sorted(ids[0]) == [0, 1, 2]
    with pytest.raises(ValueError, match="empty pool"):
        build_index(np.zeros((0, 8), np.float32))
