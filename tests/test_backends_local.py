"""hf generation with the tiny model, the response cache, and the vLLM Ray split (engines are a named STAND-IN)."""

from __future__ import annotations

import pytest

from openrlhf_weakness.backends.cache import ResponseCache, model_identity
from openrlhf_weakness.backends.config import SamplingParams
from openrlhf_weakness.backends.driver import generate_all

PROMPTS = [f"What is {a} plus {b}?" for a, b in [(1, 2), (3, 4), (10, 7), (0, 0), (5, 12), (6, 6), (2, 9)]]
GREEDY = SamplingParams(max_new_tokens=8, temperature=0.0, n=1)


@pytest.fixture(scope="module")
def hf(tiny_model):
    from openrlhf_weakness.backends.hf import HFBackend

    return HFBackend(str(tiny_model), batch_size=4, dtype="float32", device="cpu")


class Counting:
    """Wraps a backend to count the prompts it is actually asked to answer."""

    def __init__(self, backend):
        self.backend, self.model_id, self.asked = backend, backend.model_id, 0

    def generate(self, prompts, params, on_result):
        self.asked += len(prompts)
        self.backend.generate(prompts, params, on_result)


def test_hf_batched_greedy_equals_one_at_a_time(hf):
    batched, _ = generate_all(hf, PROMPTS, GREEDY)
    single = [hf.generate_batch([p], GREEDY)[0] for p in PROMPTS]
    assert batched == single
    assert all(len(a) == 1 and isinstance(a[0], str) and a[0] for a in batched)


def test_hf_sampling_gives_n_answers_and_chat_messages_use_the_template(hf):
    sampled, _ = generate_all(hf, PROMPTS[:2], SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=1))
    assert [len(a) for a in sampled] == [3, 3]
    again, _ = generate_all(hf, PROMPTS[:2], SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=1))
    assert again == sampled  # seeded
    messages = [{"role": "user", "content": PROMPTS[0]}]
    with_template = hf.generate_batch([messages], GREEDY)[0]
    hf.chat_template = True
    try:
        assert hf.generate_batch([PROMPTS[0]], GREEDY)[0] == with_template
    finally:
        hf.chat_template = False


def test_cache_answers_reruns_and_keeps_partial_work(hf, tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    counting = Counting(hf)
    first, hits = generate_all(counting, PROMPTS[:4], GREEDY, cache)
    assert hits == 0 and counting.asked == 4
    second, hits = generate_all(counting, PROMPTS, GREEDY, cache)
    assert hits == 4 and counting.asked == 4 + 3 and second[:4] == first
    other_params = SamplingParams(max_new_tokens=5)
    _, hits = generate_all(counting, PROMPTS[:2], other_params, cache)
    assert hits == 0  # sampling parameters are part of the key
    cache.close()
    reopened = ResponseCache(tmp_path / "cache")
    _, hits = generate_all(counting, PROMPTS, GREEDY, reopened)
    assert hits == len(PROMPTS)


def test_model_identity_changes_when_a_model_folder_is_rewritten(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = model_identity(str(folder))
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    assert model_identity(str(folder)) != before
    assert model_identity("some/hub-name") == "some/hub-name"


def test_vllm_ray_split_on_two_cpus_matches_one_process(tiny_model, hf):
    """The engines are a STAND-IN for vLLM (transformers inside each Ray actor): vLLM needs CUDA."""
    import ray  # part of the CPU install (requirements/cpu.lock): a missing ray fails here, it is not skipped

    from openrlhf_weakness.backends.vllm_ray import VLLMRayBackend, split_evenly

    assert [len(r) for r in split_evenly(7, 2)] == [4, 3] and [len(r) for r in split_evenly(2, 3)] == [1, 1, 0]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        backend = VLLMRayBackend(
            str(tiny_model),
            num_engines=2,
            engine_factory="openrlhf_weakness.testing.standin_vllm:standin_engine",
            engine_kwargs={},
        )
        split, _ = generate_all(backend, PROMPTS, GREEDY)
    finally:
        ray.shutdown()
    single, _ = generate_all(hf, PROMPTS, GREEDY)
    assert split == single
