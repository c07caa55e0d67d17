"""The ``--assess.*`` flags."""

from __future__ import annotations

from dataclasses import dataclass

from openrlhf_weakness.config import flag
from openrlhf_weakness.errors import SettingsError


@dataclass
class AssessConfig:
    """Assessment (scoring answers 1..5)."""

    assessor: str = flag(
        "math",
        "math (final-answer equivalence), code (unit tests in a sandbox), judge (LLM judge "
        "through --judge.*), function (your score() in a file)",
        choices=["math", "code", "judge", "function"],
    )
    bad_below: int = flag(4, "a bad case scores below this (APT's paper: 4; 2 gives the strict variant score == 1)")
    num_workers: int = flag(
        2, "items assessed at once (threads; code runs each in its own process; the reward hook: worker processes)"
    )
    timeout: float = flag(
        30.0,
        "seconds one answer may take (math and function; every assessor in the reward hook); past it the worker "
        "process is killed and the answer is left unscored",
    )
    code_timeout: float = flag(10.0, "code: seconds per program")
    code_memory_mb: int = flag(1024, "code: address-space limit per program")
    code_sandbox: str = flag(
        "bwrap",
        "code: bwrap (the OS sandbox, required to run untrusted code) or none (an audit "
        "hook only, for trusted code; logs a warning)",
        choices=["bwrap", "none"],
    )
    code_weak_tests: str = flag(
        "refuse",
        "code: tests that are not input/output pairs run inside the sandbox, weakly "
        "verified, only with accept (refuse leaves them unscored)",
        choices=["refuse", "accept"],
    )
    function_path: str | None = flag(None, "function: Python file defining score(prompt, response, reference)")
    function_scale: str = flag(
        "unit", "function: unit ([0, 1] -> 1..5 linearly) or five (already 1..5)", choices=["unit", "five"]
    )
    judge_rubric: str = flag("general", "judge: general, math, code, or a JSON file with criteria and five levels")
    skip_bad_rows_enable: bool = flag(False, "count and skip input rows with missing keys instead of stopping")


def make_assessor(cfg: AssessConfig, gen=None, isolated: bool = True):
    """The assessor ``cfg.assessor`` names; ``gen`` (a GenerationConfig) configures the judge's backend. Math and
    function assessors can run unbounded (huge numbers, a user's loop): ``isolated`` runs them in killable worker
    processes with ``cfg.timeout`` per answer. Code runs in its own process anyway; the judge waits on HTTP."""
    if isolated and cfg.assessor in ("math", "function"):
        from openrlhf_weakness.assess.isolated import IsolatedAssessor

        return IsolatedAssessor(cfg, None, max(cfg.num_workers, 1), cfg.timeout)
    if cfg.assessor == "math":
        from openrlhf_weakness.assess.math_answer import MathAnswerAssessor

        return MathAnswerAssessor(cfg.num_workers)
    if cfg.assessor == "code":
        from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor

        return CodeTestAssessor(
            cfg.code_timeout, cfg.code_memory_mb, cfg.num_workers, cfg.code_sandbox, cfg.code_weak_tests
        )
    if cfg.assessor == "function":
        from openrlhf_weakness.assess.function import FunctionAssessor

        if not cfg.function_path:
            raise SettingsError("--assess.assessor function needs --assess.function_path")
        return FunctionAssessor(cfg.function_path, cfg.num_workers, cfg.function_scale)
    if cfg.assessor == "judge":
        from openrlhf_weakness.assess.judge import JudgeAssessor, load_rubric
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import make_backend

        if gen is None or not gen.model:
            raise SettingsError("--assess.assessor judge needs a judge model: --judge.backend and --judge.model")
        rubric, cache = load_rubric(cfg.judge_rubric), open_cache(gen)
        constrained = getattr(gen, "structured_output", "none") == "vllm"
        if constrained and gen.backend != "openai":
            raise SettingsError("--judge.structured_output vllm needs --judge.backend openai (a vllm serve server)")
        backend = make_backend(gen)
        if constrained:
            from openrlhf_weakness.assess.judge import REPLY_REGEX

            backend.extra_body = {"structured_outputs": {"regex": REPLY_REGEX}}
        retries = getattr(gen, "parse_retries", 0)
        return JudgeAssessor(backend, SamplingParams.from_config(gen), rubric, cache, retries)
    raise SettingsError(f"unknown --assess.assessor {cfg.assessor!r}")
