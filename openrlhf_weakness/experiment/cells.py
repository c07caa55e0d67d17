"""Running an experiment cell by cell: each (arm, seed) trains (or, for ``base``, takes the student), is scored on
the held-out splits and its result is written atomically as it finishes, so a rerun skips finished cells; a cell that
fails is recorded with its log and the others go on."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Callable

from openrlhf_weakness.experiment.config import ExperimentError

logger = logging.getLogger(__name__)


def cell_path(work: Path, arm: str, seed: int) -> Path:
    """``results/<arm>-s<seed>.json`` (an arm named by a model path is spelled with its slashes as ``__``)."""
    name = arm.strip("/").replace("/", "__")
    return Path(work) / "results" / f"{name}-s{seed}.json"


def cell_settings(ctx, arm: str) -> str:
    """A digest of what decides a cell's result (:func:`settings_of`): a finished cell is reused only under it."""
    import hashlib

    text = json.dumps(settings_of(ctx, arm), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def experiment_settings(ctx, arms: list[str]) -> dict:
    """What a pre-registration fixes: the arms, the seeds and every trained arm's settings (files by content)."""
    return {"arms": sorted(arms), "seeds": ctx.compare.seeds, "settings": settings_of(ctx, "trained")}


def check_preregistration(ctx, arms: list[str]) -> str | None:
    """Before test is scored: the pre-registration's hash, refused when its settings are not this run's; None (an
    exploratory run, said so in the report) without ``--compare.preregistration``."""
    if "test" not in ctx.splits() or not ctx.compare.preregistration:
        return None
    from openrlhf_weakness.experiment.preregistration import PreregistrationError, check_before_test

    try:
        return check_before_test(ctx.compare.preregistration, experiment_settings(ctx, arms))
    except PreregistrationError as err:
        raise ExperimentError(f"--compare.preregistration: {err}") from None


def register(ctx, arms: list[str]) -> str:
    """Write ``--compare.preregistration`` from the spec at ``--compare.register`` (its title, metric, comparisons
    and noise floors) with this run's settings; the file's sha256. Nothing is trained or scored."""
    from openrlhf_weakness.experiment.preregistration import PreregistrationError, write_preregistration

    spec_path, out = ctx.compare.register, ctx.compare.preregistration
    if not out:
        raise ExperimentError("--compare.register needs --compare.preregistration: the file to write")
    try:
        spec = json.loads(Path(spec_path).read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ExperimentError(f"--compare.register: cannot read {spec_path}: {err}") from None
    except json.JSONDecodeError as err:
        raise ExperimentError(f"--compare.register: {spec_path} line {err.lineno}: not JSON ({err.msg})") from None
    if not isinstance(spec, dict) or set(spec) - {"title", "metric", "comparisons", "noise_floors", "alpha"}:
        raise ExperimentError(
            f"--compare.register: {spec_path} must be an object with title, metric, comparisons, noise_floors, alpha"
        )
    try:
        return write_preregistration(out, settings=experiment_settings(ctx, arms), **spec)
    except (PreregistrationError, TypeError) as err:
        raise ExperimentError(f"--compare.register: {spec_path}: {err}") from None


def registered_verdicts(ctx, rows: dict, results: list[dict]) -> list[dict]:
    """The pre-registration's comparisons and noise floors, each with its seed-level test and goal, on the scores
    of this run (an empty list for an exploratory run); one that cannot be tested (an arm failed in a seed, say)
    carries its ``error`` and the others are still reported."""
    if not ctx.memo.get("preregistration"):
        return []
    from dataclasses import replace

    from openrlhf_weakness.experiment.preregistration import PreregistrationError, load_preregistration, verdicts
    from openrlhf_weakness.experiment.summary import score_records

    records = [
        {**r, "category": r["datasource"] if r["datasource"] is not None else ""}
        for r in score_records(rows, results, ctx.data.keys.datasource_key)
    ]
    prereg = load_preregistration(ctx.compare.preregistration)
    singles = [replace(prereg, comparisons=(c,), noise_floors=()) for c in prereg.comparisons]
    singles += [replace(prereg, comparisons=(), noise_floors=(f,)) for f in prereg.noise_floors]
    names = [c.name for c in prereg.comparisons] + [f"noise floor: {f.name}" for f in prereg.noise_floors]
    out = []
    for name, single in zip(names, singles):
        try:
            out += [v.as_dict() | {"line": v.line()} for v in verdicts(single, records)]
        except PreregistrationError as err:
            logger.warning("[compare] registered comparison %s not tested: %s", name, err)
            out.append({"name": name, "error": str(err), "line": f"[{name}] not tested: {err}"})
    return out


def settings_of(ctx, arm: str) -> dict:
    """The student, the scoring settings and files, and for a trained arm the training flags and the methods'
    settings."""
    from dataclasses import asdict, is_dataclass, replace

    from openrlhf_weakness.backends.config import model_settings
    from openrlhf_weakness.io.stages import file_digest

    data = ctx.data
    settings = {
        "model": ctx.model if arm == "base" or ctx.plan is not None else arm,
        "gen": model_settings(replace(ctx.gen, model=None)),
        "assess": {k: v for k, v in asdict(ctx.assess).items() if k != "num_workers"},
        "judge": model_settings(ctx.judge) if ctx.judge else None,
        "keys": [data.keys.input_key, data.keys.reference_key],
        "splits": {s: file_digest(getattr(data, s)) for s in ("dev", "guard", "test") if getattr(data, s)},
    }
    if arm != "base" and ctx.plan is not None:
        settings["training"] = ctx.plan.argv()
        settings["train"] = [file_digest(data.train), file_digest(data.pool), data.keys.output_key]
        for name in ("loop", "pairs", "retrieve", "stat", "teacher"):
            value = getattr(ctx, name)
            fields = asdict(value) if is_dataclass(value) else {}
            settings[name] = {k: v for k, v in fields.items() if k not in ("cache_dir", "no_cache_enable")}
    return settings


def score_model(ctx, model: str, splits) -> dict[str, list[float]]:
    """Per-question scores in [0, 1] of ``model`` on each split, through the user's --gen.* and --assess.*."""
    from openrlhf_weakness.assess.scoring import question_score
    from openrlhf_weakness.experiment.evaluate import evaluate_model

    scored = evaluate_model(
        model,
        {split: ctx.rows(split) for split in splits},
        ctx.gen,
        ctx.assess,
        ctx.keys,
        cache_dir=ctx.work / "cache",
        judge=ctx.judge,
    )
    return {split: [question_score(r) for r in rows] for split, rows in scored.items()}


def run_cell(ctx, arm: str, seed: int, produce: Callable[[], tuple[str, dict]], score=score_model) -> dict:
    """The result of ``(arm, seed)``: read back when finished (scored on any split it lacks), else ``produce()``'s
    model scored; a failure is kept as ``status: failed`` with the traceback in ``<cell>.error.log`` and its tail."""
    from openrlhf_weakness.experiment.summary import write_text
    from openrlhf_weakness.io import write_json

    path = cell_path(ctx.work, arm, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    splits, digest = ctx.splits(), cell_settings(ctx, arm)
    if path.exists():
        result = json.loads(path.read_text())
        if result.get("status") == "done" and result.get("settings", digest) != digest:
            logger.info("[compare] %s seed %d: settings changed since %s was written: computed again", arm, seed, path)
        elif result.get("status") == "done":
            missing = [s for s in splits if s not in result["scores"]]
            if missing:  # e.g. a dev-only run's cell, now scored on the test split once
                result["scores"].update(score(ctx, result["model"], missing))
                write_json(path, result)
            logger.info("[compare] %s seed %d: reused (%s)", arm, seed, path)
            return result
    try:
        model, info = produce()
        result = {"arm": arm, "seed": seed, "status": "done", "model": model, "settings": digest, **info}
        result["scores"] = score(ctx, model, splits)
    except Exception as err:  # one failed arm must not sink the others: its traceback is kept for the user
        log = path.with_suffix(".error.log")
        text = traceback.format_exc()
        write_text(log, text)
        first = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        tail = "\n".join(str(err).splitlines()[-10:]) if "\n" in str(err) else text.strip().splitlines()[-1]
        result = {"arm": arm, "seed": seed, "status": "failed", "error": first, "log": str(log), "tail": tail}
    write_json(path, result)
    logger.info("[compare] %s seed %d: %s", arm, seed, result["status"])
    return result


def run_experiment(ctx, arms: list[str]) -> tuple[dict, list[dict]]:
    """The pre-registration check, the base model's cell, then every (seed, arm) in order: (base, arm results)."""
    from openrlhf_weakness.experiment.arms import ARMS

    ctx.memo["preregistration"] = check_preregistration(ctx, arms)

    base = run_cell(ctx, "base", 0, lambda: (ctx.model, {}))
    results = []
    for seed in range(ctx.compare.seeds):
        for name in arms:
            results.append(
                run_cell(ctx, name, seed, lambda name=name, seed=seed: ARMS[name].train(ctx, seed, ctx.plan))
            )
    return base, results


def write_outputs(ctx, base: dict, results: list[dict]) -> tuple[dict, str, Path]:
    """The summary JSON, its markdown table, plot and per-question scores (``scores.jsonl.gz``) beside it; returns
    (summary, table, summary path). A dev-only run compares on dev and writes ``dev_summary.*``."""
    from openrlhf_weakness.experiment.summary import markdown, plot, summarize, write_scores, write_text
    from openrlhf_weakness.io import write_json

    split = "dev" if ctx.compare.dev_only_enable or not ctx.data.test else "test"
    rows = {s: ctx.rows(s) for s in ctx.splits()}
    if base["status"] != "done":
        raise ExperimentError(f"the base model could not be scored: {base['error']} (log: {base['log']})")
    plan = ctx.plan
    budget = {
        "training_flags": plan.argv(),
        "lr": plan.value("--adam.lr"),
        "epochs": plan.value("--train.max_epochs"),
        "batch_size": plan.value("--train.batch_size"),
    }
    summary = summarize(
        rows,
        base,
        results,
        split,
        ctx.data.keys.datasource_key,
        ctx.data.keys.reference_key,
        budget,
        ctx.compare.preset,
    )
    if ctx.compare.out and not ctx.compare.dev_only_enable:
        out = Path(ctx.compare.out)
    else:
        out = ctx.work / ("dev_summary.json" if split == "dev" and ctx.compare.dev_only_enable else "summary.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary["preregistration"] = ctx.memo.get("preregistration")
    if split == "test":
        summary["registered"] = registered_verdicts(ctx, rows, [base] + results)
    write_json(out, summary)
    table = markdown(summary)
    write_text(out.with_suffix(".md"), table)
    write_scores(out.with_name(out.stem + ".scores.jsonl.gz"), rows, [base] + results, ctx.data.keys.datasource_key)
    plot(summary, out.with_suffix(".png"))
    return summary, table, out
