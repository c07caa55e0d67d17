"""STAND-IN for a vLLM engine (vLLM needs CUDA and cannot be installed on the CPU test machines).

It answers through transformers with the same ``generate(texts, params)`` contract as
:class:`openrlhf_weakness.backends.vllm_ray.VLLMEngine`, so the Ray sharding around it is exercised for real.
"""

from __future__ import annotations

from openrlhf_weakness.backends.config import SamplingParams


class StandInVLLMEngine:
    def __init__(self, model: str, **_ignored):
        from openrlhf_weakness.backends.hf import HFBackend

        self.hf = HFBackend(model, batch_size=8, dtype="float32", device="cpu")

    def generate(self, texts: list[str], params: dict) -> list[list[str]]:
        out: list[list[str]] = []
        for start in range(0, len(texts), 8):
            out.extend(self.hf.generate_batch(texts[start : start + 8], SamplingParams(**params)))
        return out


def standin_engine(model: str, **kwargs) -> StandInVLLMEngine:
    return StandInVLLMEngine(model, **kwargs)
