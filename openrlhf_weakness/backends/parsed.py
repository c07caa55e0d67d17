"""Replies that must parse (a judge's score, a teacher's skills, a tagger's tags): an unparseable reply is asked again,
shown back to the model with a format reminder and sampled, up to a bound; what still does not parse stays unparsed
(``None``), never a default value, and every request is counted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, TypeVar

from openrlhf_weakness.backends.base import Prompt, as_messages

T = TypeVar("T")
RETRY_TEMPERATURE = 0.7  # a greedy retry of the same conversation would mostly repeat itself


@dataclass
class ParseReport:
    """How many replies of one role parsed at once, after a retry, or not at all."""

    role: str
    requests: int = 0
    parsed_first: int = 0
    retried: int = 0
    recovered: int = 0
    unparsed: int = 0

    def add(self, other: "ParseReport") -> None:
        for key in ("requests", "parsed_first", "retried", "recovered", "unparsed"):
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        rate = (self.parsed_first + self.recovered) / self.requests if self.requests else 1.0
        return (
            f"{self.role}: {self.requests} replies, {self.parsed_first} parsed at once, {self.retried} retried "
            f"({self.recovered} recovered), {self.unparsed} left unparsed; parse rate {rate:.1%}"
        )


def generate_parsed(
    backend,
    prompts: list[Prompt],
    params,
    parse: Callable[[str], T | None],
    retries: int,
    reminder: str,
    role: str,
    cache=None,
) -> tuple[list[T | None], list[str], ParseReport]:
    """(parsed value or None, the last reply, report) per prompt. ``parse`` returns None for an unparseable reply.
    Retries go through the same response cache (their conversations differ, so they are cached apart)."""
    from openrlhf_weakness.backends.driver import generate_all

    outputs, _ = generate_all(backend, prompts, params, cache, desc=role)
    texts = [answers[0] for answers in outputs]
    values = [parse(text) for text in texts]
    pending = [i for i, value in enumerate(values) if value is None]
    report = ParseReport(role, len(prompts), len(prompts) - len(pending), retried=len(pending) if retries else 0)
    for attempt in range(1, retries + 1):
        if not pending:
            break
        again = replace(
            params, n=1, temperature=max(params.temperature, RETRY_TEMPERATURE), seed=params.seed + attempt
        )
        repair = [
            as_messages(prompts[i])
            + [{"role": "assistant", "content": texts[i]}, {"role": "user", "content": reminder}]
            for i in pending
        ]
        outputs, _ = generate_all(backend, repair, again, cache, desc=f"{role} (retry {attempt})")
        still = []
        for i, answers in zip(pending, outputs):
            value = parse(answers[0])
            if value is None:
                texts[i] = answers[0]  # the next retry shows the latest reply
                still.append(i)
            else:
                values[i], texts[i] = value, answers[0]
        report.recovered += len(pending) - len(still)
        pending = still
    report.unparsed = len(pending)
    return values, texts, report
