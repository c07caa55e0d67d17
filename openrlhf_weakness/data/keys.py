"""The columns of input rows, declared once: every command adds them as ``--data.*_key`` flags from :class:`DataKeys`
(``add_flags(parser, DataKeys, "data", exclude=..., defaults=...)``), and the answer-and-assess stage reads rows
through the :class:`RowKeys` they make."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag


@dataclass
class RowKeys:
    """Where a row keeps its prompt and its reference (label), and where the answer is written."""

    input: str = "prompt"
    reference: str = "reference"
    response: str = "response"


@dataclass
class DataKeys:
    """Columns of the input rows."""

    input_key: str = flag("prompt", "key of the prompt (a string or chat messages)")
    output_key: str = flag(
        "response", "key of the answer: a model's (cli.generate writes it, cli.assess reads it) or a solution (STAT)"
    )
    reference_key: str = flag("reference", "key of the reference answer / unit tests (label)")
    datasource_key: str = flag("datasource", "key of the category (datasource or skill) for per-category summaries")

    def row_keys(self) -> RowKeys:
        return RowKeys(input=self.input_key, reference=self.reference_key, response=self.output_key)
