"""Answer a list of prompts through any backend, with the response cache and a progress bar.

Cached prompts are not sent again; each new answer is cached the moment it arrives, so an interrupted run loses
nothing it already paid for.
"""

from __future__ import annotations

from openrlhf_weakness.backends.base import Backend, Prompt
from openrlhf_weakness.backends.cache import ResponseCache, cache_key
from openrlhf_weakness.backends.config import GenerationConfig, SamplingParams
from openrlhf_weakness.backends.hf import PromptTooLong
from openrlhf_weakness.errors import SettingsError


def make_backend(cfg: GenerationConfig) -> Backend:
    """The backend ``cfg.backend`` names; heavy libraries are imported only for the one chosen."""
    if not cfg.model:
        raise SettingsError("--gen.model is required")
    if cfg.backend == "hf":
        from openrlhf_weakness.backends.hf import HFBackend

        return HFBackend(cfg.model, cfg.batch_size, cfg.dtype, cfg.chat_template_enable)
    if cfg.backend == "vllm":
        from openrlhf_weakness.backends.vllm_ray import VLLMRayBackend

        return VLLMRayBackend(
            cfg.model,
            cfg.num_engines,
            cfg.tensor_parallel_size,
            cfg.chat_template_enable,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
        )
    if cfg.backend == "openai":
        from openrlhf_weakness.backends.openai_compat import OpenAIBackend

        return OpenAIBackend.from_config(cfg)
    raise SettingsError(f"unknown --gen.backend {cfg.backend!r} (hf, vllm, openai)")


def generate_all(
    backend: Backend,
    prompts: list[Prompt],
    params: SamplingParams,
    cache: ResponseCache | None = None,
    desc: str = "generate",
) -> tuple[list[list[str]], int]:
    """Answers for every prompt (``params.n`` each) and how many came from the cache."""
    from tqdm import tqdm

    results: list[list[str] | None] = [None] * len(prompts)
    keys = [cache_key(backend.model_id, p, params.as_dict()) for p in prompts] if cache else []
    todo = []
    for i, prompt in enumerate(prompts):
        hit = cache.get(keys[i]) if cache else None
        if hit is not None and len(hit) == params.n:
            results[i] = hit
        else:
            todo.append(i)
    hits = len(prompts) - len(todo)
    bar = tqdm(total=len(prompts), initial=hits, desc=desc, unit="prompt")

    def on_result(j: int, answers: list[str]) -> None:
        i = todo[j]
        results[i] = answers
        if cache:
            cache.put(keys[i], answers)
        bar.update()

    try:
        if todo:
            backend.generate([prompts[i] for i in todo], params, on_result)
    except PromptTooLong as err:  # its index among the prompts generated, mapped to the caller's list
        raise PromptTooLong(todo[err.index], err.tokens, err.limit) from None
    finally:
        bar.close()
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"{len(missing)} prompts got no answer (first: index {missing[0]})")
    return results, hits
