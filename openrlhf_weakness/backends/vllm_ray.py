"""vLLM offline engines as Ray actors, one per GPU group, each answering a contiguous share of the prompts.

The engine inside an actor is built by a factory named ``module:function`` so that a stand-in can replace vLLM where
it cannot be installed (CPU CI); the default factory builds a real ``vllm.LLM``.
"""

from __future__ import annotations

import importlib

from openrlhf_weakness.backends.base import OnResult, Prompt, render_prompt
from openrlhf_weakness.backends.cache import model_identity
from openrlhf_weakness.backends.config import SamplingParams

VLLM_FACTORY = "openrlhf_weakness.backends.vllm_ray:vllm_engine"


class VLLMEngine:
    """A real vLLM engine: ``generate(texts, params) -> n answers per text``."""

    def __init__(self, model: str, tensor_parallel_size: int = 1, seed: int = 42, gpu_memory_utilization: float = 0.9):
        import vllm

        self._vllm = vllm
        backend = "ray" if tensor_parallel_size > 1 else None
        self.llm = vllm.LLM(
            model,
            tensor_parallel_size=tensor_parallel_size,
            seed=seed,
            gpu_memory_utilization=gpu_memory_utilization,
            distributed_executor_backend=backend,
        )

    def generate(self, texts: list[str], params: dict) -> list[list[str]]:
        sampling = self._vllm.SamplingParams(
            n=params["n"],
            temperature=params["temperature"],
            top_p=params["top_p"],
            max_tokens=params["max_new_tokens"],
            seed=params["seed"],
        )
        outputs = self.llm.generate(texts, sampling, use_tqdm=False)
        return [[o.text for o in out.outputs] for out in outputs]


def vllm_engine(model: str, **kwargs) -> VLLMEngine:
    return VLLMEngine(model, **kwargs)


def _load(factory: str):
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)


class EngineActor:
    """Holds one engine inside a Ray worker."""

    def __init__(self, factory: str, model: str, kwargs: dict):
        self.engine = _load(factory)(model, **kwargs)

    def generate(self, texts: list[str], params: dict) -> list[list[str]]:
        return self.engine.generate(texts, params)


def split_evenly(n_items: int, n_parts: int) -> list[range]:
    """Contiguous shares whose sizes differ by at most one."""
    base, extra = divmod(n_items, n_parts)
    bounds, start = [], 0
    for part in range(n_parts):
        size = base + (1 if part < extra else 0)
        bounds.append(range(start, start + size))
        start += size
    return bounds


class VLLMRayBackend:
    def __init__(
        self,
        model: str,
        num_engines: int = 1,
        tensor_parallel_size: int = 1,
        chat_template: bool = False,
        engine_factory: str = VLLM_FACTORY,
        engine_kwargs: dict | None = None,
        num_gpus_per_engine: float | None = None,
        gpu_memory_utilization: float = 0.9,
    ):
        import ray
        from transformers import AutoTokenizer

        self.model_id = model_identity(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.chat_template = chat_template
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        if engine_kwargs is None:
            engine_kwargs = {
                "tensor_parallel_size": tensor_parallel_size,
                "gpu_memory_utilization": gpu_memory_utilization,
            }
        if num_gpus_per_engine is None:  # with TP > 1 vLLM places its own Ray workers on the GPUs
            num_gpus_per_engine = 1 if tensor_parallel_size == 1 and engine_factory == VLLM_FACTORY else 0
        actor = ray.remote(num_gpus=num_gpus_per_engine, num_cpus=1)(EngineActor)
        self.engines = [actor.remote(engine_factory, model, engine_kwargs) for _ in range(num_engines)]

    def generate(self, prompts: list[Prompt], params: SamplingParams, on_result: OnResult) -> None:
        import ray

        texts = [render_prompt(self.tokenizer, p, self.chat_template)[0] for p in prompts]
        shares = [s for s in split_evenly(len(texts), len(self.engines)) if len(s)]
        pending = {
            self.engines[k].generate.remote([texts[i] for i in share], params.as_dict()): share
            for k, share in enumerate(shares)
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            share = pending.pop(done[0])
            for i, answers in zip(share, ray.get(done[0])):
                on_result(i, answers)

    def shutdown(self) -> None:
        import ray

        for engine in self.engines:
            ray.kill(engine)
