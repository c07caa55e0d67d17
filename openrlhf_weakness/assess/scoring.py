"""A scoring session: one student (``--gen.*``), one assessor (``--assess.*``, with the judge's ``--judge.*``), the row
keys and a run directory's cache. The APT loop, the STAT pipeline and the experiment commands answer and assess
through it, so a model is scored the same way wherever a score is read."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from openrlhf_weakness.assess.answer import RowKeys

logger = logging.getLogger(__name__)


class ScoringError(ValueError):
    """The session cannot start or a row cannot be answered (the message names the flag, or the file and line)."""


def judge_for(assess, judge):
    """The judge's settings when ``--assess.assessor judge`` (which then needs ``--judge.model``), else None."""
    if assess.assessor != "judge":
        return None
    if judge is None or not judge.model:
        raise ScoringError(
            "--assess.assessor judge needs a judge model: --judge.model (and --judge.backend, --judge.base_url for a "
            "server); the --gen.* flags are the student's"
        )
    return judge


def check_roles(roles: dict) -> None:
    """Stop before any student work when a role's server is down (``{"--gen": cfg, "--judge": cfg}``)."""
    from openrlhf_weakness.backends.openai_compat import OpenAIClientError, check_servers

    try:
        check_servers(roles)
    except OpenAIClientError as err:
        raise ScoringError(str(err)) from None


def question_score(row: dict) -> float:
    """A scored row as a number in [0, 1]: (score - 1) / 4, so a right/wrong assessor gives 1/0; an answer the
    assessor could not decide counts 0 (the same number selects the loop's best model and is reported)."""
    return 0.0 if row.get("score") is None else (row["score"] - 1) / 4


def split_score(scored: list[dict], datasource_key: str = "datasource") -> dict:
    """Mean question score, overall and per category (rows without the key fall in "")."""
    groups: dict[str, list[float]] = {}
    for row in scored:
        groups.setdefault(str(row.get(datasource_key) or ""), []).append(question_score(row))
    values = [question_score(r) for r in scored]
    return {
        "score": sum(values) / len(values) if values else 0.0,
        "n": len(values),
        "by_datasource": {k: sum(v) / len(v) for k, v in sorted(groups.items())},
    }


@dataclass
class ScoringSession:
    """Answers rows with a model and assesses them; models load once each, the judge's replies are cached in
    ``cache_root`` unless the user chose a cache, and ``seconds`` collects where the time went."""

    gen: object
    assess: object
    judge: object = None
    keys: RowKeys = field(default_factory=RowKeys)
    cache_root: Path | None = None
    seconds: dict = field(default_factory=dict)

    assessor_override: object = None  # an assessor shared with other sessions (cli.evaluate scores many models)

    def __post_init__(self):
        self._model, self._backend, self._assessor = None, None, self.assessor_override

    def settings(self, max_new_tokens: int = 0) -> dict:
        """What decides a model's scores besides the model itself (a stage's input)."""
        from openrlhf_weakness.backends.config import model_settings

        student = model_settings(replace(self.gen, model=None))
        if max_new_tokens:
            student["max_new_tokens"] = max_new_tokens
        return {
            "student": student,
            "assess": asdict(self.assess),
            "judge": model_settings(self.judge) if self.judge else None,
            "keys": [self.keys.input, self.keys.reference],
        }

    def add_seconds(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def backend(self, model: str):
        if self._model != model:
            import time

            from openrlhf_weakness.backends.driver import make_backend

            self._backend = None  # free the previous model first
            start = time.perf_counter()
            self._backend = make_backend(replace(self.gen, model=model))
            self._model = model
            self.add_seconds("load_model", time.perf_counter() - start)
        return self._backend

    def assessor(self):
        if self._assessor is None:
            from openrlhf_weakness.assess.config import make_assessor

            judge = self.judge
            if judge is not None and not judge.cache_dir and not judge.no_cache_enable and self.cache_root:
                judge = replace(judge, cache_dir=str(self.cache_root))  # a rerun does not ask the judge again
            self._assessor = make_assessor(self.assess, judge)
        return self._assessor

    def close(self) -> None:
        """Stop the assessor's workers (not a shared one's)."""
        if self._assessor is not None and self._assessor is not self.assessor_override:
            getattr(self._assessor, "close", lambda: None)()
        self._assessor = self.assessor_override

    def answer(self, model: str, rows: list[dict], desc: str, max_new_tokens: int = 0, params=None, samples=False):
        """Rows plus the model's ``response``, ``score``, ``feedback``, ``bad`` (with ``samples`` also every answer's
        ``responses``/``scores``). A prompt longer than the model's context is named by file and line."""
        from openrlhf_weakness.assess.answer import answer_and_assess
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.hf import PromptTooLong
        from openrlhf_weakness.data.inputs import where

        params = params or SamplingParams.from_config(self.gen)
        if max_new_tokens:
            params = replace(params, max_new_tokens=max_new_tokens)
        cache = open_cache(self.gen, self.cache_root) if self.cache_root else None
        backend = self.backend(model)  # loading is timed on its own, not as generation
        try:
            scored, seconds = answer_and_assess(
                backend, self.assessor(), rows, params, self.keys, self.assess.bad_below, cache, desc, samples=samples
            )
        except PromptTooLong as err:
            raise ScoringError(
                f"{where(rows, err.index)}: field {self.keys.input!r}: {err.tokens} tokens, more than the {err.limit} "
                f"the model takes beside --gen.max_new_tokens {params.max_new_tokens}"
            ) from None
        finally:
            if cache is not None:
                cache.close()
        for stage in ("generate", "assess"):
            self.add_seconds(stage, seconds[stage])
        return scored

    def evaluate(
        self, model: str, splits: dict, desc: str, max_new_tokens: int = 0, datasource_key: str = "datasource"
    ):
        """``{split: (scores, scored rows)}`` of ``model`` on ``splits`` (``{name: rows}``): the loop's evaluation
        stage and ``cli.evaluate`` both score models this way."""
        out = {}
        for name, rows in splits.items():
            scored = self.answer(model, rows, f"eval {name} ({desc})", max_new_tokens)
            out[name] = (split_score(scored, datasource_key), scored)
        return out
