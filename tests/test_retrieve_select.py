"""Similar-case selection: APT's per-tag quotas, tag filtering, fall-backs, MMR, dedup and decontamination."""

from __future__ import annotations

import numpy as np
import pytest

from openrlhf_weakness.retrieve.decontaminate import Decontaminator
from openrlhf_weakness.retrieve.index import build_index
from openrlhf_weakness.retrieve.select import SimilarCaseSelector, mmr, tag_quotas
from openrlhf_weakness.retrieve.tags import field_tags, normalize_tag, parse_llm_tags

TAGS = ["add", "mul", "sub", "gcd"]


def _pool(n=2000, d=32, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tags = [[TAGS[i % 4]] + ([TAGS[(i + 1) % 4]] if i % 10 == 0 else []) for i in range(n)]
    return vectors, tags, [f"pool item {i}" for i in range(n)]


def _selector(**kw):
    vectors, tags, texts = _pool()
    return SimilarCaseSelector(vectors, tags, texts, build_index(vectors), **kw), vectors, tags


def test_quotas_follow_apt_formula():
    quotas = tag_quotas([["add"], ["add", "mul"], ["gcd"], ["add"]], scale=1.0)
    # weights: add 3/5, mul 1/5, gcd 1/5 of 4 bad cases -> ceil(2.4)=3, ceil(0.8)=1, ceil(0.8)=1
    assert quotas == {"add": 3, "mul": 1, "gcd": 1}
    assert tag_quotas([["add"], ["mul"]], scale=2.0) == {"add": 2, "mul": 2}


@pytest.mark.parametrize("mode", ["per_tag", "per_case"])
def test_tag_filtering_never_returns_a_candidate_without_a_shared_tag(mode):
    selector, vectors, pool_tags = _selector()
    rng = np.random.default_rng(3)
    bad_vectors = vectors[rng.choice(2000, 12)] + 0.1
    bad_vectors /= np.linalg.norm(bad_vectors, axis=1, keepdims=True)
    bad_tags = [[TAGS[i % 3]] for i in range(12)]  # never "gcd"
    sel = selector.select(bad_vectors, bad_tags, [f"bad {i}" for i in range(12)], scale=1.0, mode=mode)
    assert len(sel.pool_ids) >= 10
    for pid in sel.pool_ids:
        wanted = {t for i in sel.retrieved_for[pid] for t in bad_tags[i]}
        assert set(pool_tags[pid]) & wanted, (pid, pool_tags[pid], wanted)


def test_no_tag_match_falls_back_to_untagged_similarity_and_counts_it():
    selector, vectors, _ = _selector()
    sel = selector.select(vectors[:2] * 0.99, [["unknown-topic"], []], ["x", "y"], scale=2.0)
    assert sel.stats["fallback_untagged"] == 1 and len(sel.pool_ids) == 2 + 2
    assert sel.hits_per_tag["unknown-topic"] == 2 and sel.hits_per_tag["(untagged)"] == 2


def test_mmr_lowers_mean_pairwise_similarity():
    rng = np.random.default_rng(5)
    base = rng.standard_normal(32)
    near = base + 0.15 * rng.standard_normal((200, 32))  # a tight cluster of near-copies around the query
    far = rng.standard_normal((200, 32))
    cands = np.concatenate([near, far]).astype(np.float32)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    query = (base / np.linalg.norm(base)).astype(np.float32)
    scores = cands @ query

    def mean_pairwise(ids):
        v = cands[ids]
        sims = v @ v.T
        return (sims.sum() - len(ids)) / (len(ids) * (len(ids) - 1))

    plain = list(np.argsort(-scores)[:10])
    diverse = mmr(query, cands, scores, 10, lam=0.5)
    assert mean_pairwise(diverse) < mean_pairwise(plain) - 0.05
    assert mmr(query, cands, scores, 10, lam=1.0) == plain


def test_exact_and_near_duplicates_are_dropped_and_counted():
    vectors, tags, texts = _pool(200)
    vectors[1] = vectors[0]  # near duplicate of item 0 (same vector, other text)
    texts[2] = "Bad Case  Text"  # same text as the bad case after normalisation
    tags[0] = tags[1] = tags[2] = ["add"]
    selector = SimilarCaseSelector(vectors, tags, texts, build_index(vectors))
    query = vectors[0] + vectors[2]
    query /= np.linalg.norm(query)
    sel = selector.select(query[None, :], [["add"]], ["bad case text"], scale=3.0)
    chosen = set(sel.pool_ids)
    assert not {0, 1} <= chosen and 2 not in chosen
    assert sel.stats["dropped_exact_duplicate"] >= 1 and sel.stats["dropped_near_duplicate"] >= 1


def test_decontamination_drops_planted_test_items():
    eval_texts = ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."]
    pool_texts = [
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many?",
        "A farmer has 12 cows and buys 7 more. How many cows does the farmer have now?",
        "Natalia sold pencils in June.",
    ]
    decontam = Decontaminator(eval_texts, n=8, threshold=0.5)
    assert [decontam.contaminated(t) for t in pool_texts] == [True, False, False]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    blocked = ["contaminated" if decontam.contaminated(t) else None for t in pool_texts]
    selector = SimilarCaseSelector(vectors, [["a"]] * 3, pool_texts, build_index(vectors), blocked=blocked)
    sel = selector.select(vectors[:1] * 0.9 + 0.01, [["a"]], ["q"], scale=3.0)
    assert 0 not in sel.pool_ids and sel.stats["pool_rows_contaminated"] == 1


def test_empty_pool_and_rows_without_text():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    selector = SimilarCaseSelector(vectors, [["a"]] * 4, ["", "  ", "ok one", "ok two"], build_index(vectors))
    sel = selector.select(vectors[:1], [["a"]], ["q"], scale=4.0)
    assert set(sel.pool_ids) <= {2, 3} and sel.stats["pool_rows_empty_text"] == 2
    with pytest.raises(ValueError, match="empty"):
        SimilarCaseSelector(vectors[:0], [], [], None).select(vectors[:1], [["a"]], ["q"])


def test_tag_normalisation_field_and_llm_parsing():
    assert normalize_tag("  Basic_Arithmetic ") == normalize_tag("basic-arithmetic") == "basic arithmetic"
    assert field_tags([{"t": ["A b", "a_B"]}, {"t": "x"}, {}], "t") == [["a b"], ["x"], []]
    assert parse_llm_tags('Sure! [{"tag": "Math Reasoning", "explanation": "..."}, {"tag": "arithmetic"}]') == [
        "arithmetic",
        "math reasoning",
    ]
    assert parse_llm_tags('["geometry", "Geometry"]') == ["geometry"]
    assert parse_llm_tags("algebra, word problems") == ["algebra", "word problems"]


def test_llm_tagger_through_a_real_http_server():
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.openai_compat import OpenAIBackend
    from openrlhf_weakness.retrieve.tags import llm_tags
    from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer

    def tagger(message: str) -> str:
        if "plus" in message:
            return '[{"tag": "Arithmetic", "explanation": "sum"}, {"tag": "addition"}]'
        return "no json here, just words"

    with ScriptedOpenAIServer(answer_fn=tagger) as server:
        tags, report = llm_tags(
            ["What is 2 plus 2?", "Tell me a story", "Say nothing"],
            OpenAIBackend(server.base_url, "tagger"),
            SamplingParams(max_new_tokens=64),
            None,
            1,
        )
    assert tags[0] == ["addition", "arithmetic"]
    assert tags[1] == ["just words", "no json here"]  # no JSON list: comma-separated fall-back, never a crash
    assert report.as_dict() == {
        "role": "tagger",
        "requests": 3,
        "parsed_first": 3,
        "retried": 0,
        "recovered": 0,
        "unparsed": 0,
    }


def test_llm_tagger_asks_again_for_an_empty_reply_then_leaves_it_untagged():
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.openai_compat import OpenAIBackend
    from openrlhf_weakness.retrieve.tags import TAG_REMINDER, llm_tags
    from openrlhf_weakness.testing.scripted_openai_server import ScriptedOpenAIServer

    def tagger(message: str) -> str:
        if message == TAG_REMINDER:  # the retry: it answers properly once reminded, except for the silent one
            return "   " if tagger.silent else '["geometry"]'
        tagger.silent = "nothing" in message
        return "   "

    with ScriptedOpenAIServer(answer_fn=tagger) as server:
        backend = OpenAIBackend(server.base_url, "tagger", max_retries=0)
        tags, report = llm_tags(["Area of a circle?"], backend, SamplingParams(max_new_tokens=8), None, 2)
        assert tags == [["geometry"]] and (report.retried, report.recovered, report.unparsed) == (1, 1, 0)
        tags, report = llm_tags(["Say nothing"], backend, SamplingParams(max_new_tokens=8), None, 2)
        assert tags == [[]] and (report.retried, report.recovered, report.unparsed) == (1, 0, 1)
        assert server.requests == 2 + 3  # one retry for the first, two (the bound) for the second


def test_kmeans_tags_put_planted_clusters_together():
    from openrlhf_weakness.retrieve.tags import kmeans_tags

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16))
    labels = np.repeat(np.arange(4), 50)
    pool = centres[labels] + 0.05 * rng.standard_normal((200, 16))
    pool = (pool / np.linalg.norm(pool, axis=1, keepdims=True)).astype(np.float32)
    pool_tags, query_tags = kmeans_tags(pool, pool[::50], k=4)
    for cluster in range(4):
        assert len({pool_tags[i][0] for i in np.flatnonzero(labels == cluster)}) == 1
    assert len({t[0] for t in pool_tags}) == 4 and [t[0] for t in query_tags] == [
        pool_tags[i][0] for i in range(0, 200, 50)
    ]
