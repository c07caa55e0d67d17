"""The arms registry: each arm turns (the experiment context, a training seed, the shared training plan) into a
trained model path and a few facts about it. Same-budget baselines take the rows, steps and learning rate of APT's
first iteration; STAT's uniform baseline the size of STAT-Sel's draw."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from openrlhf_weakness.experiment.config import ExperimentError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    name: str
    train: Callable  # (ctx, seed, plan) -> (model path, info dict)
    help: str
    default: bool = True  # run by a preset's full list (the others only when named)


ARMS: dict[str, Arm] = {}


def arm(name: str, help: str, default: bool = True):
    def register(fn):
        ARMS[name] = Arm(name, fn, help, default)
        return fn

    return register


def parse_arms(text: str) -> list[str]:
    """``apt,sft_same_budget`` as a list, every name known (``base`` is always scored and never named)."""
    names = [a.strip() for a in text.split(",") if a.strip() and a.strip() != "base"]
    unknown = [a for a in names if a not in ARMS]
    if unknown:
        raise ExperimentError(f"--compare.arms: unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
    if not names:
        raise ExperimentError("--compare.arms: name at least one arm")
    return list(dict.fromkeys(names))


# ---- training helpers ------------------------------------------------------------------------------------------
def train_once(ctx, plan, out: Path) -> str:
    """Run ``plan`` into ``out``; a rerun reuses ``out`` only when it was trained by the same flags on the same data
    (``train_signature.json``), else trains again. Its output in ``out.log``."""
    from openrlhf_weakness.io import write_json
    from openrlhf_weakness.io.stages import file_digest
    from openrlhf_weakness.runner import clear_partial

    signature = {"flags": plan.argv(), "data": file_digest(plan.value("--data.dataset"))}
    marker = out / "train_signature.json"
    if (out / "config.json").exists() and marker.exists() and json.loads(marker.read_text()) == signature:
        return str(out)
    if out.exists():
        logger.info("[compare] %s was trained with other flags or data: trained again", out)
    tmp = out.with_name(out.name + ".tmp")
    clear_partial(tmp)
    loop = ctx.loop
    plan.set(**{"--ckpt.output_dir": str(tmp)}).run(
        out.with_name(out.name + ".log"),
        launcher=getattr(loop, "launcher_enable", False),
        hostfile=getattr(loop, "hostfile", None),
    )
    write_json(tmp / "train_signature.json", signature)
    clear_partial(out)
    os.replace(tmp, out)
    return str(out)


def seeded(ctx, plan, seed: int):
    return plan.set(**{"--train.seed": seed})


def sft(
    ctx,
    plan,
    rows: list[dict],
    name: str,
    seed: int,
    weights: list[float] | None = None,
    total: int = 0,
    targets: list[str] | None = None,
) -> str:
    """SFT of the student on ``rows`` (OpenRLHF's train_sft) or, with ``weights``, on all of them through STAT's
    weighted sampler drawing ``total`` rows an epoch (train_stat_sft); ``targets``: the answers to train on (default
    each row's SFT target)."""
    from openrlhf_weakness.io import write_jsonl

    data = ctx.work / "arms" / f"{name}-s{seed}.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    targets = targets if targets is not None else [ctx.sft_target(r) for r in rows]
    out = [{"input": r[ctx.data.keys.input_key], "output": t} for r, t in zip(rows, targets)]
    if ctx.pairs and ctx.pairs.general_ratio and weights is None:  # the same general share as APT's rounds
        from openrlhf_weakness.data.mix import mix_in

        general = [{"input": r[ctx.data.keys.input_key], "output": ctx.sft_target(r)} for r in ctx.general_rows()]
        out, _ = mix_in(out, general, ctx.pairs.general_ratio, seed)
    if weights is not None:
        out = [dict(row, stat_weight=w) for row, w in zip(out, weights)]
    write_jsonl(data, out)
    module = "openrlhf.cli.train_sft" if weights is None else "openrlhf_weakness.cli.train_stat_sft"
    sft_plan = plan.for_module(module).set(
        **{
            "--model.model_name_or_path": ctx.model,
            "--data.dataset": str(data),
            "--data.input_key": "input",
            "--data.output_key": "output",
            "--data.apply_chat_template": bool(ctx.gen.chat_template_enable),
        }
    )
    if weights is not None:
        sft_plan = sft_plan.set(**{"--stat.weight_key": "stat_weight", "--stat.total": total})
    sft_plan = seeded(ctx, sft_plan, seed).fit_batch(total or len(rows))
    return train_once(ctx, sft_plan, ctx.work / "arms" / f"{name}-s{seed}")


# ---- APT -------------------------------------------------------------------------------------------------------
def apt_run(ctx, seed: int, plan) -> tuple[dict, Path]:
    """APT's loop for ``seed`` (resumed from its run directory): its final record and the first iteration's pairs."""
    key = ("apt", seed)
    if key in ctx.memo:
        return ctx.memo[key]
    from openrlhf_weakness.apt.loop import APTLoop, LoopData
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    if not ctx.data.train or not ctx.data.pool:
        raise ExperimentError("the APT arms need --data.train and --data.pool")
    run_dir = ctx.work / f"apt-s{seed}"
    base = ctx.loop or APTLoopConfig()
    apt_plan = seeded(ctx, plan, seed)
    cfg = dataclasses.replace(base, model=ctx.model, run_dir=str(run_dir), train_args=apt_plan.argv())
    d = ctx.data
    data = LoopData(train=d.train, pool=d.pool, dev=d.dev, guard=d.guard, keys=d.keys)  # the test split stays unread
    loop = APTLoop(
        cfg,
        data,
        ctx.student_gen(),
        ctx.assess,
        ctx.retrieve or RetrieveConfig(),
        ctx.pairs or PairsConfig(),
        ctx.judge,
        apt_plan,
    )
    try:
        final = loop.run_loop()
    finally:
        loop.runner.close()
    ctx.memo[key] = final, run_dir / "iter_0" / "pairs.jsonl"
    return ctx.memo[key]


@arm("apt", "APT's loop; the best iteration on dev")
def apt(ctx, seed: int, plan):
    final, _ = apt_run(ctx, seed, plan)
    return final["best"]["model"], {"best_iteration": final["best"]["iteration"], "stopped": final["stopped"]}


@arm("apt_trained", "APT's first trained model (M_1), kept by the loop or not: what its training did", False)
def apt_trained(ctx, seed: int, plan):
    final, _ = apt_run(ctx, seed, plan)
    if not final["history"]:
        raise ExperimentError(f"APT (seed {seed}) trained no iteration ({final['stopped']})")
    first = final["history"][0]
    return first["model"], {"kept": final["best"]["model"] == first["model"], "dev_in_loop": first.get("dev")}


def _first_pairs(ctx, seed: int, plan) -> tuple[Path, int]:
    final, pairs = apt_run(ctx, seed, plan)
    if not final["history"] or not pairs.exists():
        raise ExperimentError(f"APT (seed {seed}) trained no iteration ({final['stopped']}): no budget to match")
    return pairs, sum(1 for _ in open(pairs))


def same_budget_draw(ctx, seed: int, plan, rng_seed) -> list[dict]:
    """As many random train+pool rows as APT's first pairs for ``seed``, drawn by ``rng_seed``."""
    _, n_rows = _first_pairs(ctx, seed, plan)
    pool = ctx.rows("train") + (ctx.rows("pool") if ctx.data.pool else [])
    return random.Random(rng_seed).sample(pool, min(n_rows, len(pool)))


@arm("sft_same_budget", "SFT on as many random train+pool rows as APT's first pairs, same steps and lr")
def sft_same_budget(ctx, seed: int, plan):
    rows = same_budget_draw(ctx, seed, plan, seed)
    return sft(ctx, plan, rows, "sft_same_budget", seed), {"rows": len(rows)}


@arm("dpo_only", "DPO without the SFT term (--apt.sft_coef 0) on APT's first pairs")
def dpo_only(ctx, seed: int, plan):
    pairs, n_rows = _first_pairs(ctx, seed, plan)
    dpo = plan.set(
        **{
            "--model.model_name_or_path": ctx.model,
            "--data.dataset": str(pairs),
            "--data.prompt_key": "prompt",
            "--apt.weight_key": "weight",
            "--apt.sft_coef": 0,
            "--data.apply_chat_template": bool(ctx.gen.chat_template_enable),
        }
    )
    dpo = seeded(ctx, dpo, seed).fit_batch(n_rows)
    return train_once(ctx, dpo, ctx.work / "arms" / f"dpo_only-s{seed}"), {"rows": n_rows}


# ---- STAT ------------------------------------------------------------------------------------------------------
STAT_SKILLS = {"stat_sel": None, "stat_sel_sampler": None, "stat_sel_subskills": "subskills"}


def stat_run_dir(ctx, seed: int, key: str | None) -> Path:
    return ctx.work / (f"stat-{key}-s{seed}" if key == "subskills" else f"stat-s{seed}")


def stat_run(ctx, seed: int, key: str | None = None) -> tuple[list[dict], list[dict]]:
    """STAT-Sel's materialised draw and the pool with its weights (``stat_weight``), for ``seed``; ``key``
    "subskills" profiles over reasoning-gym sub-skills read off each reference's expression."""
    memo = ("stat", seed, key)
    if memo in ctx.memo:
        return ctx.memo[memo]
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.experiment.context import load_split
    from openrlhf_weakness.stat.config import StatConfig, StatData
    from openrlhf_weakness.stat.pipeline import StatPipeline

    if not ctx.data.pool:
        raise ExperimentError("the STAT arms need --data.pool (the rows STAT-Sel draws from)")
    pool, dev = ctx.data.pool, ctx.data.dev
    if key == "subskills":
        pool, dev = with_subskills(ctx)
    run_dir = stat_run_dir(ctx, seed, key)
    base = ctx.stat or StatConfig()
    cfg = dataclasses.replace(base, run_dir=str(run_dir), seed=seed, skill_key=key or base.skill_key)
    d = ctx.data
    keys = dataclasses.replace(d.keys, output_key=d.keys.output_key or d.keys.reference_key)
    data = StatData(train=pool, dev=dev, keys=keys)
    pipeline = StatPipeline(cfg, data, ctx.student_gen(), ctx.teacher or GenerationConfig(), ctx.assess, ctx.judge)
    try:
        pipeline.run()
    finally:
        pipeline.close()
    if not (run_dir / "stat_sel_draw.jsonl").exists():
        raise ExperimentError(f"STAT (seed {seed}) found no difficult dev question: nothing to select")
    draw = load_split(str(run_dir / "stat_sel_draw.jsonl"), [])
    weighted = load_split(str(run_dir / "stat_sel.jsonl"), [])
    ctx.memo[memo] = draw, weighted
    return draw, weighted


def with_subskills(ctx) -> tuple[str, str]:
    """The pool and dev files with a ``subskills`` label per row (category, operator, carries, ... read off
    reasoning-gym's expression), less the labels every pool row shares (they select nothing)."""
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.stat.subskills import reasoning_gym_skills

    try:
        found = {
            s: [reasoning_gym_skills(r[ctx.data.keys.reference_key]) for r in ctx.rows(s)] for s in ("pool", "dev")
        }
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ExperimentError(f"stat_sel_subskills needs reasoning-gym references (preset real): {err}") from None
    shared = set.intersection(*map(set, found["pool"]))
    paths = []
    for split, labels in found.items():
        path = ctx.work / "data" / f"{split}_subskills.jsonl"
        rows = [
            dict(r, subskills=[s for s in skills if s not in shared]) for r, skills in zip(ctx.rows(split), labels)
        ]
        write_jsonl(path, rows)
        paths.append(str(path))
    return paths[0], paths[1]


def stat_info(ctx, seed: int, key: str | None) -> dict:
    from openrlhf_weakness.experiment.summary import upweighted_skills

    _, weighted = stat_run(ctx, seed, key)
    skill_key = (key or ctx.stat.skill_key) if ctx.stat else key
    return {"top_skills": upweighted_skills(weighted, skill_key) if skill_key else []}


@arm("stat_sel", "STAT-Sel: SFT on the draw the Missing-Skill-Profile of the student's dev failures weights")
def stat_sel(ctx, seed: int, plan):
    draw, _ = stat_run(ctx, seed)
    return sft(ctx, plan, draw, "stat_sel", seed), {"rows": len(draw), **stat_info(ctx, seed, None)}


def uniform_draw(ctx, seed: int, rng_seed) -> list[dict]:
    """A uniform draw from the pool of STAT-Sel's size (``--stat.size``, else its draw's), by ``rng_seed``."""
    size = ctx.stat.size if ctx.stat and ctx.stat.size else len(stat_run(ctx, seed)[0])
    pool = ctx.rows("pool")
    return random.Random(rng_seed).sample(pool, min(size, len(pool)))


@arm("sft_uniform", "SFT on a uniform draw from the pool, the size of STAT-Sel's draw")
def sft_uniform(ctx, seed: int, plan):
    rows = uniform_draw(ctx, seed, seed)
    return sft(ctx, plan, rows, "sft_uniform", seed), {"rows": len(rows)}


@arm(
    "stat_sel_sampler",
    "STAT-Sel through the weighted sampler over the whole pool (draws per epoch = the draw's size)",
    False,
)
def stat_sel_sampler(ctx, seed: int, plan):
    draw, weighted = stat_run(ctx, seed)
    rows = len(draw)
    model = sft(ctx, plan, weighted, "stat_sel_sampler", seed, [r["stat_weight"] for r in weighted], rows)
    return model, {"rows": rows, **stat_info(ctx, seed, None)}


@arm("stat_sel_subskills", "STAT-Sel over reasoning-gym sub-skills read off each reference (preset real)", False)
def stat_sel_subskills(ctx, seed: int, plan):
    draw, _ = stat_run(ctx, seed, "subskills")
    model = sft(ctx, plan, draw, "stat_sel_subskills", seed)
    return model, {"rows": len(draw), **stat_info(ctx, seed, "subskills")}


from openrlhf_weakness.experiment import mechanism_arms  # noqa: E402,F401  (registers the mechanism baselines)
