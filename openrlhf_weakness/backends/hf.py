"""transformers backend: batched generation with left padding, the chat template, sampling and n answers per prompt."""

from __future__ import annotations

from openrlhf_weakness.backends.base import OnResult, Prompt, render_prompt
from openrlhf_weakness.backends.cache import model_identity
from openrlhf_weakness.backends.config import SamplingParams


class PromptTooLong(ValueError):
    """A prompt that does not fit the model's context with the answer's tokens; ``index`` is its place in the call."""

    def __init__(self, index: int, tokens: int, limit: int):
        super().__init__(f"prompt {index + 1} has {tokens} tokens; the model takes {limit} with the answer's tokens")
        self.index, self.tokens, self.limit = index, tokens, limit


class HFBackend:
    def __init__(self, model: str, batch_size: int = 8, dtype: str = "auto", chat_template: bool = False, device=None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = model_identity(model)
        self.batch_size, self.chat_template = batch_size, chat_template
        self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()

    def context_limit(self, max_new_tokens: int) -> int | None:
        """Most prompt tokens that fit the model's context beside ``max_new_tokens`` (None: the config names none)."""
        positions = getattr(self.model.config, "max_position_embeddings", None)
        return positions - max_new_tokens if positions else None

    def generate(self, prompts: list[Prompt], params: SamplingParams, on_result: OnResult) -> None:
        limit = self.context_limit(params.max_new_tokens)
        if limit is not None:  # checked before any work: an overlong prompt would ask for absurd memory mid-run
            for index, prompt in enumerate(prompts):
                text, rendered = render_prompt(self.tokenizer, prompt, self.chat_template)
                if len(text.encode("utf-8")) > limit:  # a token covers at least a byte: only long texts are tokenized
                    tokens = len(self.tokenizer(text, add_special_tokens=not rendered)["input_ids"])
                    if tokens > limit:
                        raise PromptTooLong(index, tokens, limit)
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            for offset, answers in enumerate(self.generate_batch(chunk, params)):
                on_result(start + offset, answers)

    def generate_batch(self, prompts: list[Prompt], params: SamplingParams) -> list[list[str]]:
        import torch

        rendered = [render_prompt(self.tokenizer, p, self.chat_template) for p in prompts]
        texts = [text for text, _ in rendered]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not rendered[0][1])
        enc = {k: v.to(self.device) for k, v in enc.items()}
        sample = params.temperature > 0
        torch.manual_seed(params.seed)
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                max_new_tokens=params.max_new_tokens,
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=None,
                num_return_sequences=params.n,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        decoded = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return [decoded[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]
