"""Turn this project's assessors into OpenRLHF rewards: ``(queries, prompts, labels) -> rewards, scores, extra_logs``.

Never raises and never freezes: every sample is assessed in a worker process that is killed at its deadline
(:mod:`openrlhf_weakness.assess.isolated`), so a sample that hangs (``9^9^9^9``, a user's loop) gets the fallback
reward and is counted in ``extra_logs`` while every other sample gets its real reward. A call returns within
``timeout + queue_margin`` seconds whatever else is queued. Safe from many threads (OpenRLHF calls reward functions
through ``asyncio.to_thread`` inside vLLM actors).
Failures (score < bad_below) go to the weakness ledger when one is configured.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, fields

from openrlhf_weakness.config import flag
from openrlhf_weakness.data.labels import label_question, parse_label

log = logging.getLogger(__name__)
CONFIG_ENV = "ORW_REWARD_CONFIG"
SPECIAL_TOKEN = re.compile(r"<\|[^|>]{1,40}\|>|</s>|<s>|<eos>|<pad>")


@dataclass
class RewardHookConfig:
    """Reward hook and assessor server (environment ORW_REWARD_<FIELD> or a JSON file in ORW_REWARD_CONFIG)."""

    assessor: str = flag("math", "math, code, judge or function", choices=["math", "code", "judge", "function"])
    bad_below: int = flag(4, "a sample scoring below this is a failure (written to the ledger)")
    fallback_reward: float = flag(0.0, "reward given when the assessor fails on a sample")
    timeout: float = flag(
        30.0,
        "seconds one sample may take; past it its worker process is killed and the sample gets the fallback reward",
    )
    queue_margin: float = flag(
        10.0,
        "seconds a call may wait beyond timeout for samples queued behind slow ones; "
        "a sample still queued then gets the fallback reward",
    )
    workers: int = flag(2, "worker processes assessing samples (each killed and replaced at a sample's deadline)")
    ledger: str | None = flag(None, "JSON Lines file that failures are appended to")
    datasources: str = flag("", "comma-separated datasources (or skills) logged as acc_<name> in extra_logs")
    window: int = flag(256, "recent samples per datasource behind each acc_<name>")
    code_timeout: float = flag(10.0, "code: seconds per program")
    code_sandbox: str = flag(
        "bwrap",
        "code: bwrap (OS sandbox, required for untrusted code) or none (logs a warning)",
        choices=["bwrap", "none"],
    )
    code_weak_tests: str = flag(
        "refuse",
        "code: run tests that are not input/output pairs, weakly verified "
        "(accept), or leave those samples unscored (refuse)",
        choices=["refuse", "accept"],
    )
    function_path: str | None = flag(None, "function: Python file defining score(prompt, response, reference)")
    judge_base_url: str = flag("http://127.0.0.1:8000/v1", "judge: OpenAI-compatible server")
    judge_model: str | None = flag(None, "judge: model name on that server")
    judge_rubric: str = flag("general", "judge: general, math, code or a JSON rubric file")
    judge_timeout: float = flag(60.0, "judge: seconds per request")
    judge_parse_retries: int = flag(
        1, "judge: times a reply without a valid [RESULT] is asked again before the sample is left unscored"
    )


def load_hook_config(environ: dict | None = None) -> RewardHookConfig:
    """Defaults, then a JSON file named by ORW_REWARD_CONFIG, then ORW_REWARD_<FIELD> variables."""
    env = os.environ if environ is None else environ
    values: dict = {}
    if env.get(CONFIG_ENV):
        with open(env[CONFIG_ENV]) as f:
            values.update(json.load(f))
    for f in fields(RewardHookConfig):
        raw = env.get(f"ORW_REWARD_{f.name.upper()}")
        if raw is not None:
            kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
            values[f.name] = kind(raw)
    unknown = set(values) - {f.name for f in fields(RewardHookConfig)}
    if unknown:
        raise ValueError(f"unknown reward hook settings {sorted(unknown)}")
    return RewardHookConfig(**values)


def code_policy_line(cfg: RewardHookConfig) -> str:
    """The one start-up line that says how code rewards are verified."""
    weak = "given, marked weakly verified" if cfg.code_weak_tests == "accept" else "refused (fallback reward)"
    return (
        f"code assessor: sandbox {cfg.code_sandbox}; tests in input/output form are checked outside the "
        f"sandbox; other tests are {weak} (code_weak_tests={cfg.code_weak_tests})"
    )


def split_response(query: str, prompt) -> str:
    """The model's answer: the query (prompt + response, as OpenRLHF decodes it) minus the prompt and special tokens."""
    text = str(query)
    prompt_text = prompt if isinstance(prompt, str) else ""
    if prompt_text and prompt_text in text:
        text = text[text.rfind(prompt_text) + len(prompt_text) :]
    return SPECIAL_TOKEN.sub("", text).strip()


class Rewarder:
    def __init__(self, cfg: RewardHookConfig):
        self.cfg = cfg
        self.assessor = self._make_assessor(cfg)
        self.datasources = [d.strip() for d in cfg.datasources.split(",") if d.strip()]
        self._lock = threading.Lock()
        self._recent = {d: deque(maxlen=cfg.window) for d in self.datasources}  # right/wrong per datasource

    @staticmethod
    def _make_assessor(cfg: RewardHookConfig):
        from openrlhf_weakness.assess.config import AssessConfig
        from openrlhf_weakness.assess.isolated import IsolatedAssessor
        from openrlhf_weakness.backends.config import RoleConfig

        assess = AssessConfig(
            assessor=cfg.assessor,
            bad_below=cfg.bad_below,
            num_workers=1,
            code_timeout=cfg.code_timeout,
            code_sandbox=cfg.code_sandbox,
            code_weak_tests=cfg.code_weak_tests,
            function_path=cfg.function_path,
            judge_rubric=cfg.judge_rubric,
        )
        gen = RoleConfig(
            backend="openai",
            model=cfg.judge_model,
            base_url=cfg.judge_base_url,
            timeout=cfg.judge_timeout,
            max_retries=1,
            max_new_tokens=512,
            no_cache_enable=True,
            parse_retries=cfg.judge_parse_retries,
        )
        if cfg.assessor == "judge" and not cfg.judge_model:
            raise ValueError("the judge assessor needs judge_model (ORW_REWARD_JUDGE_MODEL)")
        if cfg.assessor == "code":
            from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor

            CodeTestAssessor(sandbox=cfg.code_sandbox, weak_tests=cfg.code_weak_tests)  # no sandbox: fail here, once
            log.info(code_policy_line(cfg))
        return IsolatedAssessor(assess, gen if cfg.assessor == "judge" else None, cfg.workers, cfg.timeout)

    def close(self) -> None:
        self.assessor.close()

    def health(self) -> dict:
        """The worker pool's real state (``pool`` is ``ok`` or ``down``; a down pool is replaced on the next call)."""
        return self.assessor.health()

    def __call__(self, queries, prompts, labels) -> dict:
        from openrlhf_weakness.assess.base import Assessment, Item

        n = len(queries)
        started = time.monotonic()
        deadline = started + self.cfg.timeout + self.cfg.queue_margin
        pending, results, responses, sources = {}, [None] * n, [""] * n, [""] * n
        for i in range(n):
            try:
                prompt = prompts[i] if prompts is not None and i < len(prompts) else ""
                reference, sources[i] = parse_label(labels[i] if labels is not None and i < len(labels) else None)
                responses[i] = split_response(queries[i], prompt)
                pending[i] = self.assessor.submit(Item(prompt, responses[i], reference))
            except Exception as err:  # the hook must never raise into OpenRLHF
                results[i] = Assessment(None, f"{type(err).__name__}: {err}")
        assessed, timeouts = self.assessor.collect(list(pending.values()), deadline)
        for i, result in zip(pending, assessed):
            results[i] = result
        from openrlhf_weakness.rollout import policy_step

        rewards, faults, failures, step = [], 0, [], policy_step()
        for i, result in enumerate(results):
            if result.score is None:
                faults += 1
                rewards.append(float(self.cfg.fallback_reward))
            else:
                rewards.append((result.score - 1) / 4)
            if result.score is not None and result.score < self.cfg.bad_below:
                failures.append(
                    {
                        "prompt": prompts[i] if i < len(prompts or []) else None,
                        "response": responses[i],
                        "label": labels[i] if i < len(labels or []) else None,
                        "score": result.score,
                        "datasource": sources[i],
                        "feedback": result.feedback[:300],
                        "step": step,
                    }
                )
                question = label_question(failures[-1]["label"])
                if question:  # the question as written, for the next round (prompt is after the chat template)
                    failures[-1]["input"] = question
        logs = self._update_stats(rewards, faults, sources, n)
        logs["hook_timeouts"] = float(timeouts)
        logs["hook_seconds"] = time.monotonic() - started  # per call; OpenRLHF averages it over a step's samples
        logs["hook_weakly_verified"] = float(sum(r.feedback.startswith("weakly verified") for r in results))
        if failures and self.cfg.ledger:
            try:
                from openrlhf_weakness.hooks.ledger import append_failures

                append_failures(self.cfg.ledger, failures)
            except Exception:
                logs["ledger_errors"] = 1.0
        return {"rewards": rewards, "scores": list(rewards), "extra_logs": logs}

    def _update_stats(self, rewards, faults, sources, n) -> dict:
        with self._lock:
            for source, reward in zip(sources, rewards):
                if source in self._recent:
                    self._recent[source].append(1.0 if reward >= 1.0 else 0.0)
            logs = {"hook_faults": float(faults), "hook_fault_rate": faults / max(n, 1)}
            for name, recent in self._recent.items():
                logs[f"acc_{name}"] = sum(recent) / len(recent) if recent else 0.0
        return logs
