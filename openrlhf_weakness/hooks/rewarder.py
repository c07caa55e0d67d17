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
from dataclasses import Field, dataclass, field, fields, replace

from openrlhf_weakness.assess.config import AssessConfig
from openrlhf_weakness.backends.config import RoleConfig
from openrlhf_weakness.config import flag
from openrlhf_weakness.data.labels import label_question, parse_label
from openrlhf_weakness.errors import SettingsError

log = logging.getLogger(__name__)
CONFIG_ENV = "ORW_REWARD_CONFIG"
SPECIAL_TOKEN = re.compile(r"<\|[^|>]{1,40}\|>|</s>|<s>|<eos>|<pad>")


# The assessor's and the judge's settings the hook offers, each declared once in AssessConfig / RoleConfig. Their flat
# names (ORW_REWARD_<NAME>, --hook.<name>, keys of the ORW_REWARD_CONFIG file): the AssessConfig fields as they are,
# the judge's RoleConfig fields as judge_<name>.
ASSESS_FIELDS = (
    "assessor",
    "bad_below",
    "num_workers",
    "timeout",
    "code_timeout",
    "code_memory_mb",
    "code_sandbox",
    "code_weak_tests",
    "function_path",
    "function_scale",
    "judge_rubric",
)
JUDGE_FIELDS = (
    "model",
    "base_url",
    "api_key_env",
    "max_new_tokens",
    "temperature",
    "top_p",
    "seed",
    "timeout",
    "max_retries",
    "retry_backoff",
    "parse_retries",
    "structured_output",
)
# The judge as the hook runs it: an OpenAI-compatible server, no response cache (every answer is new), and fewer and
# shorter tries than a stage, since they all fall within one sample's deadline.
JUDGE_FIXED = {"backend": "openai", "no_cache_enable": True}
JUDGE_DEFAULTS = {"max_retries": 1, "timeout": 60.0}
RENAMED = {"workers": "num_workers"}  # old flat name -> new one (kept working, with a deprecation line)


@dataclass
class RewardHookConfig:
    """Reward hook and assessor server (environment ORW_REWARD_<NAME> or a JSON file in ORW_REWARD_CONFIG): the
    hook's own settings, the assessor's (``assess``) and the judge's (``judge``)."""

    fallback_reward: float = flag(0.0, "reward given when the assessor fails on a sample")
    queue_margin: float = flag(
        10.0,
        "seconds a call may wait beyond timeout for samples queued behind slow ones; "
        "a sample still queued then gets the fallback reward",
    )
    ledger: str | None = flag(None, "JSON Lines file that failures are appended to")
    datasources: str = flag("", "comma-separated datasources (or skills) logged as acc_<name> in extra_logs")
    window: int = flag(256, "recent samples per datasource behind each acc_<name>")
    assess: AssessConfig = field(default_factory=AssessConfig)
    judge: RoleConfig = field(default_factory=lambda: RoleConfig(**JUDGE_FIXED, **JUDGE_DEFAULTS))

    @classmethod
    def from_flat(cls, **values) -> RewardHookConfig:
        """The configuration from flat names (see ASSESS_FIELDS); unknown names raise :class:`SettingsError`."""
        for old, new in RENAMED.items():
            if old in values:
                log.warning(
                    "reward hook setting %s (ORW_REWARD_%s, --hook.%s) is deprecated and will be removed: use %s",
                    old,
                    old.upper(),
                    old,
                    new,
                )
                old_value = values.pop(old)
                values.setdefault(new, old_value)
        unknown = set(values) - set(flat_fields())
        if unknown:
            raise SettingsError(f"unknown reward hook settings {sorted(unknown)}")
        own = {k: v for k, v in values.items() if k in _own_fields()}
        assess = AssessConfig(**{k: values[k] for k in ASSESS_FIELDS if k in values})
        judge = {**JUDGE_DEFAULTS, **{k: values[f"judge_{k}"] for k in JUDGE_FIELDS if f"judge_{k}" in values}}
        return cls(**own, assess=assess, judge=RoleConfig(**judge, **JUDGE_FIXED))


def _own_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RewardHookConfig) if "help" in f.metadata)


def flat_fields() -> dict[str, Field]:
    """Every flat setting name and the dataclass field that declares it."""
    by_name = {f.name: f for f in fields(RewardHookConfig) if "help" in f.metadata}
    by_name.update({f.name: f for f in fields(AssessConfig) if f.name in ASSESS_FIELDS})
    by_name.update({f"judge_{f.name}": f for f in fields(RoleConfig) if f.name in JUDGE_FIELDS})
    return by_name


def add_hook_flags(parser) -> None:
    """``--hook.<name>`` for every flat setting (the judge's with this hook's defaults), and the renamed ones."""
    from openrlhf_weakness.config import add_flags, add_renamed_flag

    add_flags(parser, RewardHookConfig, "hook")
    add_flags(parser, AssessConfig, "hook", exclude=_others(AssessConfig, ASSESS_FIELDS))
    add_flags(parser, RoleConfig, "hook", _others(RoleConfig, JUDGE_FIELDS), JUDGE_DEFAULTS, prefix="judge_")
    for old, new in RENAMED.items():
        add_renamed_flag(parser, f"--hook.{old}", f"--hook.{new}")


def _others(config_cls: type, offered: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(config_cls) if f.name not in offered)


def _convert(field: Field, raw: str):
    kind = str(field.type).split(" ")[0]
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return {"int": int, "float": float}.get(kind, str)(raw)


def load_hook_config(environ: dict | None = None) -> RewardHookConfig:
    """Defaults, then a JSON file named by ORW_REWARD_CONFIG, then ORW_REWARD_<NAME> variables."""
    env = os.environ if environ is None else environ
    values: dict = {}
    if env.get(CONFIG_ENV):
        with open(env[CONFIG_ENV]) as f:
            values.update(json.load(f))
    known = flat_fields()
    for name, old in [(name, None) for name in known] + [(old, new) for old, new in RENAMED.items()]:
        raw = env.get(f"ORW_REWARD_{name.upper()}")
        if raw is not None:
            values[name] = _convert(known[old or name], raw)
    return RewardHookConfig.from_flat(**values)


def code_policy_line(cfg: RewardHookConfig) -> str:
    """The one start-up line that says how code rewards are verified."""
    sandbox, weak_tests = cfg.assess.code_sandbox, cfg.assess.code_weak_tests
    weak = "given, marked weakly verified" if weak_tests == "accept" else "refused (fallback reward)"
    return (
        f"code assessor: sandbox {sandbox}; tests in input/output form are checked outside the "
        f"sandbox; other tests are {weak} (code_weak_tests={weak_tests})"
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
        from openrlhf_weakness.assess.isolated import IsolatedAssessor

        assess, judge = cfg.assess, cfg.assess.assessor == "judge"
        if judge and not cfg.judge.model:
            raise SettingsError("the judge assessor needs judge_model (ORW_REWARD_JUDGE_MODEL)")
        if assess.assessor == "code":
            from openrlhf_weakness.assess.code_sandbox import CodeTestAssessor

            CodeTestAssessor(sandbox=assess.code_sandbox, weak_tests=assess.code_weak_tests)  # no sandbox: fail here
            log.info(code_policy_line(cfg))
        in_worker = replace(assess, num_workers=1)  # each worker process assesses one sample at a time
        return IsolatedAssessor(in_worker, cfg.judge if judge else None, assess.num_workers, assess.timeout)

    def close(self) -> None:
        self.assessor.close()

    def health(self) -> dict:
        """The worker pool's real state (``pool`` is ``ok`` or ``down``; a down pool is replaced on the next call)."""
        return self.assessor.health()

    def __call__(self, queries, prompts, labels) -> dict:
        from openrlhf_weakness.assess.base import Assessment, Item

        n = len(queries)
        started = time.monotonic()
        deadline = started + self.cfg.assess.timeout + self.cfg.queue_margin
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
            if result.score is not None and result.score < self.cfg.assess.bad_below:
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
