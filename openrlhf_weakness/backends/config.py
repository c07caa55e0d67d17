"""The ``--gen.*`` flags: which backend, which model, how to sample, and where answers are cached."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from openrlhf_weakness.config import flag


@dataclass
class GenerationConfig:
    """Generation (answering prompts with a model)."""

    backend: str = flag(
        "hf",
        "hf (transformers), vllm (engines on Ray), openai (OpenAI-compatible HTTP server)",
        choices=["hf", "vllm", "openai"],
    )
    model: str | None = flag(None, "model path or name (for openai: the name the server knows)")
    max_new_tokens: int = flag(512, "new tokens per answer (APT's code: 512)")
    temperature: float = flag(0.0, "0 means greedy")
    top_p: float = flag(1.0, "nucleus sampling")
    n: int = flag(1, "answers per prompt")
    seed: int = flag(42, "sampling seed")
    chat_template_enable: bool = flag(False, "wrap plain-string prompts as a user message in the chat template")
    batch_size: int = flag(8, "hf: prompts per forward batch")
    dtype: str = flag("auto", "hf: torch dtype (auto, bfloat16, float16, float32)")
    tensor_parallel_size: int = flag(1, "vllm: GPUs per engine")
    num_engines: int = flag(1, "vllm: engines (Ray actors) that split the prompts")
    gpu_memory_utilization: float = flag(0.9, "vllm: fraction of GPU memory per engine")
    base_url: str = flag("http://127.0.0.1:8000/v1", "openai: server base URL")
    api_key_env: str = flag("OPENAI_API_KEY", "openai: environment variable holding the API key (may be unset)")
    max_in_flight: int = flag(16, "openai: requests in flight at once")
    timeout: float = flag(120.0, "openai: seconds per request before it counts as failed and is retried")
    max_retries: int = flag(5, "openai: retries on 429, 5xx, timeouts and malformed replies")
    retry_backoff: float = flag(1.0, "openai: first retry delay in seconds, doubled each retry (with jitter)")
    cache_dir: str | None = flag(
        None,
        "on-disk response cache, keyed by model, prompt and sampling (default: the run "
        "directory's cache/ in cli.apt and cli.stat, else .cache/generations)",
    )
    no_cache_enable: bool = flag(False, "do not read or write the response cache")


@dataclass
class RoleConfig(GenerationConfig):
    """An LLM role (judge, teacher, tagger): generation settings of its own, and how its unparseable replies are
    handled."""

    parse_retries: int = flag(
        2,
        "times an unparseable reply is asked again (shown back with a format reminder, "
        "sampled) before it is recorded as unparsed; never a default value",
    )
    structured_output: str = flag(
        "none",
        "constrained decoding where the server has it: vllm (vLLM's "
        "structured_outputs regex of the reply format; judge only, openai backend), none",
        choices=["none", "vllm"],
    )


# GenerationConfig fields that change how answers are fetched, not which answers: not part of a stage's signature
TRANSPORT_FIELDS = (
    "cache_dir",
    "no_cache_enable",
    "batch_size",
    "max_in_flight",
    "timeout",
    "max_retries",
    "retry_backoff",
    "api_key_env",
    "gpu_memory_utilization",
    "num_engines",
)


def model_settings(gen: GenerationConfig) -> dict:
    """The settings that decide which answers a model gives (a stage's signature depends on these only)."""
    return {k: v for k, v in asdict(gen).items() if k not in TRANSPORT_FIELDS}


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 42

    @classmethod
    def from_config(cls, cfg: GenerationConfig) -> "SamplingParams":
        return cls(cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.n, cfg.seed)

    def as_dict(self) -> dict:
        return asdict(self)
