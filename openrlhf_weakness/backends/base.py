"""What every backend offers: answer prompts, reporting each prompt's answers as soon as they exist."""

from __future__ import annotations

from typing import Callable, Protocol, Union

from openrlhf_weakness.backends.config import SamplingParams

Prompt = Union[str, list]  # a plain string, or a chat message list [{"role": ..., "content": ...}]
OnResult = Callable[[int, list[str]], None]


class Backend(Protocol):
    model_id: str

    def generate(self, prompts: list[Prompt], params: SamplingParams, on_result: OnResult) -> None:
        """Answer ``prompts``; call ``on_result(index, n_answers)`` for each prompt as it finishes."""


def as_messages(prompt: Prompt) -> list:
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def message_text(prompt) -> str:
    """The words of a prompt: a plain string as it is, a chat list as its messages' contents, one per line."""
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in prompt)
    return str(prompt)


def render_prompt(tokenizer, prompt: Prompt, chat_template: bool) -> tuple[str, bool]:
    """The text a local engine sees, and whether it came from the chat template (which already has special tokens)."""
    if isinstance(prompt, list) or chat_template:
        return tokenizer.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True), True
    return prompt, False
