"""vLLM's request and output shapes, as far as OpenRLHF's rollout code reads them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplingParams:
    """The sampling settings OpenRLHF sets (it mutates ``max_tokens`` on deep copies)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int | None = 16
    min_tokens: int = 0
    stop: list[str] | str | None = None
    stop_token_ids: list[int] | None = None
    skip_special_tokens: bool = True
    logprobs: int | None = None
    seed: int | None = None
    include_stop_str_in_output: bool = False

    def stop_strings(self) -> list[str]:
        if not self.stop:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def batch_key(self) -> tuple:
        """Requests with equal keys can share one ``generate`` call."""
        return (
            self.temperature,
            self.top_p,
            self.top_k,
            self.max_tokens,
            self.min_tokens,
            tuple(self.stop_strings()),
            tuple(self.stop_token_ids or ()),
            self.skip_special_tokens,
            self.logprobs is not None,
        )


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str  # "stop" or "length"


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = True
