"""Settings of the vLLM stand-in (``--standin.*`` on ``cli.train_grpo``)."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag


@dataclass
class StandInConfig:
    """The vLLM stand-in: transformers generation in OpenRLHF's rollout actors where vLLM cannot run."""

    vllm: str = flag(
        "auto",
        "auto: the stand-in where vLLM cannot be imported or no GPU is present, else the real vLLM; "
        "on: always the stand-in; off: never (train_ppo_ray exactly as OpenRLHF runs it)",
        choices=["auto", "on", "off"],
    )
    dtype: str = flag(
        "auto",
        "dtype the stand-in generates in (auto: float32 on a CPU, where bf16 is emulated; OpenRLHF asks bf16)",
        choices=["auto", "float32", "bfloat16", "float16"],
    )
    max_batch: int = flag(64, "most sequences the stand-in generates in one transformers call")
    trace: str | None = flag(
        None, "JSON Lines file the stand-in appends weight digests and timings to (for tests and benchmarks)"
    )
