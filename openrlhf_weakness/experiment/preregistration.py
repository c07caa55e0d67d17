"""Pre-registration: the comparisons, their metric and goals, written and committed before the test split is read.

A verdict read off a test split is only a test if what is compared, on which questions, and what counts as success
were fixed beforehand. The file (JSON, dependency-free) records them with the hash of the run's settings; the runner
calls ``check_before_test`` before it scores test, which refuses unless the file exists and its settings hash matches
the run, and records the file's hash in the results so a later reader can tie the verdicts to the committed file.

API:

- ``settings_hash(settings: dict) -> str``: a stable sha256 of the settings as canonical JSON (sorted keys; ``1`` and
  ``1.0`` differ). Put in what defines the experiment (arms, budgets, seeds, data seeds, sizes), not where it runs.
- ``load_preregistration(path) -> Preregistration``: parses and validates the file; errors name the file and field.
- ``check_before_test(prereg_path, run_settings) -> str``: the file's sha256, or ``PreregistrationError``.
- ``write_preregistration(path, *, settings, comparisons, metric, alpha=0.05, noise_floors=(), title="") -> str``:
  writes a new file (never over an existing one) and returns its hash.
- ``verdicts(prereg, scores) -> list[Verdict]``: the seed-level test (``seed_stats.compare``) for every registered
  comparison with its goal checked, then every registered noise floor. ``scores``: the long table's rows or
  ``seed_stats.scores_from_rows`` of them.

The file::

    {
      "version": 1,
      "title": "controlled setting, issue 26",
      "settings_hash": "<settings_hash(run settings)>",
      "settings": {...},
      "alpha": 0.05,
      "metric": {"name": "exact_match", "weak_skills": ["rotate", "sort"],
                 "weak_skills_rule": "base student's dev accuracy below 0.4, data seed 1"},
      "comparisons": [
        {"name": "apt_vs_sft", "a": "apt", "b": "sft_random", "goal": {"kind": "at_least", "value": 0.03}},
        {"name": "stat_weak", "a": "stat_sel", "b": "uniform", "questions": "weak_skills",
         "goal": {"kind": "at_least", "value": 0.03}},
        {"name": "stat_overall", "a": "stat_sel", "b": "uniform", "goal": {"kind": "not_worse", "value": 0.0}},
        {"name": "apt_guard", "a": "apt", "b": "base", "fixed": "b", "split": "guard",
         "goal": {"kind": "not_worse", "value": 0.02}}
      ],
      "noise_floors": [{"name": "sft_random", "a": "sft_random", "b": "sft_random_redraw"}]
    }

``settings`` (optional; ``write_preregistration`` includes it) lets a mismatch name the settings that differ.
A comparison's ``split`` defaults to ``"test"`` and ``questions`` to ``"all"`` (or ``"weak_skills"``: the questions
whose category is in ``metric.weak_skills``); ``fixed`` marks an untrained one-row arm. A noise floor without ``b``
splits arm ``a``'s seeds in halves. Goals, A minus B on the seed-level test at ``alpha``:

- ``at_least v``: met when the test says A better and the mean difference is at least ``v``;
- ``not_worse v``: met when the test does not say B better and the mean difference is at least ``-v``;
- ``within v``: met when the mean difference lies within ``±v``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from openrlhf_weakness.experiment.seed_stats import (
    SeedComparison,
    SplitScores,
    StatsError,
    category_mask,
    compare,
    noise_floor,
    scores_from_rows,
)

log = logging.getLogger(__name__)

GOAL_KINDS = ("at_least", "not_worse", "within")
QUESTION_SETS = ("all", "weak_skills")


class PreregistrationError(ValueError):
    """A missing, malformed or mismatched pre-registration, or scores it cannot be applied to."""


def settings_hash(settings: Mapping) -> str:
    """sha256 (hex) of ``settings`` as canonical JSON: sorted keys, no spaces, non-ASCII kept, no NaN."""
    if not isinstance(settings, Mapping):
        raise PreregistrationError(f"settings must be a dict, got {type(settings).__name__}")
    try:
        text = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise PreregistrationError(
            f"the settings cannot be hashed as JSON ({e}); pass plain str/number/list/dict"
        ) from e
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Goal:
    kind: str
    value: float

    def met(self, r: SeedComparison) -> bool:
        if self.kind == "at_least":
            return r.verdict == f"{r.a} better" and r.mean_diff >= self.value
        if self.kind == "not_worse":
            return r.verdict != f"{r.b} better" and r.mean_diff >= -self.value
        return abs(r.mean_diff) <= self.value

    def describe(self) -> str:
        return {
            "at_least": f"A better by at least {self.value:+.3f}",
            "not_worse": f"not B better, and A - B at least {0.0 - self.value:+.3f}",
            "within": f"A - B within ±{self.value:.3f}",
        }[self.kind]


@dataclass(frozen=True)
class Comparison:
    name: str
    a: str
    b: str
    split: str = "test"
    questions: str = "all"
    fixed: str | None = None
    goal: Goal | None = None


@dataclass(frozen=True)
class NoiseFloor:
    name: str
    a: str
    b: str | None = None
    split: str = "test"


@dataclass(frozen=True)
class Preregistration:
    path: str
    file_hash: str
    title: str
    settings_hash: str
    settings: dict | None
    alpha: float
    metric: str
    weak_skills: tuple[str, ...]
    weak_skills_rule: str
    comparisons: tuple[Comparison, ...]
    noise_floors: tuple[NoiseFloor, ...]


# --- parsing, shared by load and write: every error names the file and the field ---


def _fields(obj, where: str, required: tuple, optional: tuple) -> dict:
    if not isinstance(obj, dict):
        raise PreregistrationError(f"{where} must be a JSON object, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise PreregistrationError(f"{where}: field {missing[0]!r} is missing")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise PreregistrationError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(required + optional)})")
    return obj


def _text(obj: dict, key: str, where: str, default=None, allow_empty: bool = False) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise PreregistrationError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _number(obj: dict, key: str, where: str, default=None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PreregistrationError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _parse(data, name: str) -> tuple:
    """The validated fields of a pre-registration document (everything but path and file hash)."""
    top = _fields(
        data,
        name,
        ("version", "settings_hash", "metric", "comparisons"),
        ("title", "settings", "alpha", "noise_floors"),
    )
    if top["version"] != 1:
        raise PreregistrationError(f"{name}: field 'version' is {top['version']!r}; this code reads version 1")
    recorded = _text(top, "settings_hash", name)
    if len(recorded) != 64 or any(c not in "0123456789abcdef" for c in recorded):
        raise PreregistrationError(f"{name}: field 'settings_hash' must be 64 lowercase hex digits (settings_hash())")
    settings = top.get("settings")
    if settings is not None:
        if not isinstance(settings, dict):
            raise PreregistrationError(f"{name}: field 'settings' must be an object")
        if settings_hash(settings) != recorded:
            raise PreregistrationError(f"{name}: field 'settings' does not hash to the recorded 'settings_hash'")
    alpha = _number(top, "alpha", name, 0.05)
    if not 0 < alpha < 1:
        raise PreregistrationError(f"{name}: field 'alpha' must lie in (0, 1), got {alpha}")
    metric = _fields(top["metric"], f"{name}: metric", ("name",), ("weak_skills", "weak_skills_rule"))
    weak = metric.get("weak_skills", [])
    if not isinstance(weak, list) or not all(isinstance(w, str) and w for w in weak) or len(set(weak)) != len(weak):
        raise PreregistrationError(f"{name}: field 'metric.weak_skills' must be a list of distinct category names")
    rule = metric.get("weak_skills_rule", "")
    if weak and not (isinstance(rule, str) and rule.strip()):
        raise PreregistrationError(
            f"{name}: field 'metric.weak_skills_rule' is missing: say how the weak skills were fixed on dev"
        )
    comps = top["comparisons"]
    if not isinstance(comps, list) or not comps:
        raise PreregistrationError(f"{name}: field 'comparisons' must be a non-empty list")
    parsed = []
    for i, c in enumerate(comps):
        where = f"{name}: comparisons[{i}]"
        c = _fields(c, where, ("name", "a", "b"), ("split", "questions", "fixed", "goal"))
        comp = Comparison(
            name=_text(c, "name", where),
            a=_text(c, "a", where),
            b=_text(c, "b", where),
            split=_text(c, "split", where, "test"),
            questions=c.get("questions", "all"),
            fixed=c.get("fixed"),
        )
        if comp.a == comp.b:
            raise PreregistrationError(f"{where}: 'a' and 'b' are both {comp.a!r}; a noise floor goes in noise_floors")
        if comp.questions not in QUESTION_SETS:
            raise PreregistrationError(f"{where}.questions must be one of {QUESTION_SETS}, got {comp.questions!r}")
        if comp.questions == "weak_skills" and not weak:
            raise PreregistrationError(f"{where} uses weak_skills but 'metric.weak_skills' names none")
        if comp.fixed not in (None, "a", "b"):
            raise PreregistrationError(f"{where}.fixed must be 'a', 'b' or absent, got {comp.fixed!r}")
        if "goal" in c:
            g = _fields(c["goal"], f"{where}.goal", ("kind", "value"), ())
            if g["kind"] not in GOAL_KINDS:
                raise PreregistrationError(f"{where}.goal.kind must be one of {GOAL_KINDS}, got {g['kind']!r}")
            comp = replace(comp, goal=Goal(g["kind"], _number(g, "value", f"{where}.goal")))
        parsed.append(comp)
    names = [c.name for c in parsed]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PreregistrationError(f"{name}: comparison names must be unique; repeated: {dup}")
    floors = top.get("noise_floors", [])
    if not isinstance(floors, list):
        raise PreregistrationError(f"{name}: field 'noise_floors' must be a list")
    parsed_floors = []
    for i, f in enumerate(floors):
        where = f"{name}: noise_floors[{i}]"
        f = _fields(f, where, ("name", "a"), ("b", "split"))
        b = f.get("b")
        parsed_floors.append(
            NoiseFloor(
                name=_text(f, "name", where),
                a=_text(f, "a", where),
                b=None if b is None else _text(f, "b", where),
                split=_text(f, "split", where, "test"),
            )
        )
    return (
        _text(top, "title", name, "", allow_empty=True),
        recorded,
        settings,
        alpha,
        _text(metric, "name", f"{name}: metric"),
        tuple(weak),
        rule,
        tuple(parsed),
        tuple(parsed_floors),
    )


def load_preregistration(path) -> Preregistration:
    """The pre-registration at ``path``, validated; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise PreregistrationError(
            f"pre-registration {path} does not exist: write the comparisons, metric, goals and settings hash "
            "(write_preregistration) and commit them before the test split is read"
        )
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PreregistrationError(f"{path} is not UTF-8 text: {e}") from e
    except json.JSONDecodeError as e:
        raise PreregistrationError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from e
    title, recorded, settings, alpha, metric, weak, rule, comps, floors = _parse(data, str(path))
    return Preregistration(
        path=str(path),
        file_hash=hashlib.sha256(raw).hexdigest(),
        title=title,
        settings_hash=recorded,
        settings=settings,
        alpha=alpha,
        metric=metric,
        weak_skills=weak,
        weak_skills_rule=rule,
        comparisons=comps,
        noise_floors=floors,
    )


def _differences(registered, run, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two settings dicts (recursing into nested dicts)."""
    out = []
    for key in sorted(set(registered) | set(run), key=str):
        where = f"{prefix}{key}"
        if key not in run:
            out.append(f"{where}: registered {registered[key]!r}, absent in this run")
        elif key not in registered:
            out.append(f"{where}: {run[key]!r} in this run, not registered")
        elif isinstance(registered[key], dict) and isinstance(run[key], dict):
            out.extend(_differences(registered[key], run[key], f"{where}."))
        elif settings_hash({"v": registered[key]}) != settings_hash({"v": run[key]}):
            out.append(f"{where}: registered {registered[key]!r}, this run {run[key]!r}")
    return out


def check_before_test(prereg_path, run_settings: Mapping) -> str:
    """Refuse to score test unless the pre-registration exists and matches this run; the file's sha256 to record."""
    prereg = load_preregistration(prereg_path)
    actual = settings_hash(run_settings)
    if actual != prereg.settings_hash:
        if prereg.settings is not None:
            diffs = _differences(prereg.settings, json.loads(json.dumps(run_settings)))
            shown = "; ".join(diffs[:10]) + (f"; and {len(diffs) - 10} more" if len(diffs) > 10 else "")
            detail = f"differences: {shown}" if diffs else "the settings differ only in value types (e.g. 1 vs 1.0)"
        else:
            detail = "the file records no 'settings', so what differs cannot be named"
        raise PreregistrationError(
            f"{prereg.path}: this run's settings hash {actual[:12]}... does not match the registered "
            f"{prereg.settings_hash[:12]}...; {detail}. Score test only with the registered settings, or register anew "
            "before reading test"
        )
    log.info("pre-registration %s matches this run (file sha256 %s)", prereg.path, prereg.file_hash)
    return prereg.file_hash


def write_preregistration(
    path,
    *,
    settings: Mapping,
    comparisons: list[dict],
    metric: dict,
    alpha: float = 0.05,
    noise_floors: Iterable[dict] = (),
    title: str = "",
) -> str:
    """Write a new pre-registration (validated first; never over an existing file) and return its sha256."""
    path = Path(path)
    doc = {
        "version": 1,
        "title": title,
        "settings_hash": settings_hash(settings),
        "settings": json.loads(json.dumps(settings)),
        "alpha": alpha,
        "metric": metric,
        "comparisons": comparisons,
        "noise_floors": list(noise_floors),
    }
    _parse(doc, str(path))
    text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError as e:
        raise PreregistrationError(f"{path} exists: a pre-registration is written once, never rewritten") from e
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- applying it ---


@dataclass(frozen=True)
class Verdict:
    """One registered comparison (or noise floor) with its seed-level result and, for comparisons, its goal."""

    name: str
    split: str
    questions: str
    result: SeedComparison
    goal: Goal | None = None
    goal_met: bool | None = None

    def line(self) -> str:
        goal = "" if self.goal is None else f"; goal ({self.goal.describe()}): {'met' if self.goal_met else 'missed'}"
        return f"[{self.name}, {self.split}, {self.questions} questions] {self.result.line()}{goal}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "split": self.split,
            "questions": self.questions,
            **self.result.as_dict(),
            "goal": None if self.goal is None else {"kind": self.goal.kind, "value": self.goal.value},
            "goal_met": self.goal_met,
        }


def _arm(split: SplitScores, arm: str, where: str) -> dict:
    if arm not in split.arms:
        raise PreregistrationError(f"{where}: no scores for arm {arm!r} (arms scored: {sorted(split.arms)})")
    return split.arms[arm]


def verdicts(prereg: Preregistration, scores) -> list[Verdict]:
    """The seed-level test for every registered comparison, goals checked, then every registered noise floor."""
    table = scores if isinstance(scores, Mapping) else scores_from_rows(scores)

    def split_of(name: str, where: str) -> SplitScores:
        if name not in table:
            raise PreregistrationError(f"{where}: no scores for split {name!r} (splits scored: {sorted(table)})")
        return table[name]

    out = []
    for c in prereg.comparisons:
        where = f"{prereg.path}: comparison {c.name!r}"
        split = split_of(c.split, where)
        keep = None
        if c.questions == "weak_skills":
            if any(cat is None for cat in split.categories):
                raise PreregistrationError(f"{where}: split {c.split!r} has questions without a category")
            try:
                keep = category_mask(split.categories, prereg.weak_skills)
            except StatsError as e:
                raise PreregistrationError(f"{where}: the registered weak skills: {e}") from e
        try:
            result = compare(
                _arm(split, c.a, where),
                _arm(split, c.b, where),
                names=(c.a, c.b),
                alpha=prereg.alpha,
                keep=keep,
                fixed=c.fixed,
            )
        except StatsError as e:
            raise PreregistrationError(f"{where}: {e}") from e
        met = None if c.goal is None else c.goal.met(result)
        out.append(Verdict(c.name, c.split, c.questions, result, c.goal, met))
    for f in prereg.noise_floors:
        where = f"{prereg.path}: noise floor {f.name!r}"
        split = split_of(f.split, where)
        second = None if f.b is None else _arm(split, f.b, where)
        try:
            result = noise_floor(_arm(split, f.a, where), second, name=f.name, alpha=prereg.alpha)
        except StatsError as e:
            raise PreregistrationError(f"{where}: {e}") from e
        out.append(Verdict(f"noise floor: {f.name}", f.split, "all", result))
    return out
