"""STAT's stages: skills, labels (the skill map), difficult questions, missing skills, profile + STAT-Sel, STAT-Syn.

Each declares the settings it reads, its inputs' signatures and its artifacts; the pipeline's
:class:`~openrlhf_weakness.runner.StageRunner` reuses or computes it, and each returns (result, signature)."""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from openrlhf_weakness.backends.config import model_settings
from openrlhf_weakness.io import write_json, write_jsonl
from openrlhf_weakness.io.stages import file_digest
from openrlhf_weakness.runner import Stage, read_json, read_jsonl

logger = logging.getLogger(__name__)


def skills(p, train: list[dict], train_sig):
    """The skill list: from ``--stat.skill_list``, the rows' ``--stat.skill_key`` values, or the teacher."""
    from openrlhf_weakness.retrieve.tags import field_tags
    from openrlhf_weakness.stat.skills import SkillList
    from openrlhf_weakness.stat.teacher import SKILLS_PROMPT, parse_skill_list

    cfg = p.cfg
    settings = {
        "skill_list": cfg.skill_list,
        "skill_list_digest": file_digest(cfg.skill_list),
        "skill_key": cfg.skill_key,
        "skill_sample": cfg.skill_sample,
        "teacher": None if cfg.skill_list or cfg.skill_key else model_settings(p.teacher),
    }

    def compute(root: Path) -> None:
        if cfg.skill_list:
            names, source = [line.rstrip("\n") for line in open(cfg.skill_list) if line.strip()], cfg.skill_list
        elif cfg.skill_key:
            names, source = sorted({t for tags in field_tags(train, cfg.skill_key) for t in tags}), "field"
            if not names:
                keys = sorted(train[0]) if train else []
                raise p.error(
                    f"--stat.skill_key {cfg.skill_key!r}: no training row has a value under this key (the first "
                    f"row's keys: {', '.join(keys)})"
                )
        else:
            examples = "\n".join(f"- {row[p.key['input']]}" for row in train[: cfg.skill_sample])
            answer = p.ask_teacher([SKILLS_PROMPT.format(examples=examples)], "skills")[0][0]
            names, source = parse_skill_list(answer), "teacher"
        found = SkillList(names, source=source)
        write_json(
            root / "skills.json", {"skills": found.names, "duplicates_dropped": found.duplicates, "source": source}
        )

    read = lambda root: SkillList(read_json(root / "skills.json")["skills"])
    return p.runner.run(Stage("skills", settings, [train_sig], ["skills.json"], compute, read))


def labels(p, train: list[dict], skill_list, skills_sig: str):
    """Each training row's skills (the skill map), from its ``--stat.skill_key`` or the teacher."""
    from openrlhf_weakness.retrieve.tags import field_tags
    from openrlhf_weakness.stat.teacher import LABEL_PROMPT, parse_labels

    cfg = p.cfg
    settings = {
        "skill_key": cfg.skill_key,
        "max_skills": cfg.max_skills,
        "teacher": None if cfg.skill_key else model_settings(p.teacher),
    }

    def compute(root: Path) -> None:
        if cfg.skill_key:
            found = [skill_list.resolve(tags, cfg.max_skills) for tags in field_tags(train, cfg.skill_key)]
        else:
            listing = "\n".join(skill_list.names)
            prompts = [
                LABEL_PROMPT.format(skills=listing, question=r[p.key["input"]], max_skills=cfg.max_skills)
                for r in train
            ]
            parsed = p.ask_teacher_parsed(
                prompts,
                "labels",
                lambda text: parse_labels(text, skill_list, cfg.max_skills) or None,
                "None of those is a skill from the list. Reply again with the skills from the list only, inside "
                "<skill>...</skill>, separated by commas.",
            )
            found = [labelled or [] for labelled in parsed]
        write_jsonl(root / "labels.jsonl", [dict(row, skills=lab) for row, lab in zip(train, found)])
        logger.info(
            "[stat] labels: %d of %d examples have no known skill; unknown names dropped: %d",
            sum(1 for lab in found if not lab),
            len(found),
            sum(skill_list.dropped.values()),
        )

    read = lambda root: [row["skills"] for row in read_jsonl(root / "labels.jsonl")]
    return p.runner.run(Stage("labels", settings, [skills_sig], ["labels.jsonl"], compute, read))


def difficult(p, dev: list[dict], dev_sig):
    """The student's answers to dev, scored; ``difficult`` by ``--stat.difficulty``."""
    from openrlhf_weakness.assess.scoring import ScoringSession
    from openrlhf_weakness.stat.profile import prm_difficult
    from openrlhf_weakness.stat.synthesis import final_answer

    cfg, bad_below = p.cfg, p.assess.bad_below
    settings = {
        "student": model_settings(p.gen),
        "samples": cfg.samples,
        "difficulty": cfg.difficulty,
        "prm": file_digest(cfg.prm_path) if cfg.difficulty == "prm" else None,
        "assess": asdict(p.assess),
        "judge": model_settings(p.judge) if p.judge else None,
    }

    def compute(root: Path) -> None:
        prm = p.prm() if cfg.difficulty == "prm" else None
        gen = replace(p.gen, n=cfg.samples)
        scorer = ScoringSession(gen, p.assess, p.judge, p.row_keys, root / "cache")
        rows = []
        answered = scorer.answer(gen.model, dev, "student answers dev", samples=True)
        for row, scored in zip(dev, answered):
            outs, scores = scored["responses"], scored["scores"]
            correct = sum(1 for s in scores if s is not None and s >= bad_below)
            if cfg.difficulty == "correctness":
                hard = correct * 2 < len(outs)
            elif cfg.difficulty == "consistency":
                hard = Counter(final_answer(o) for o in outs).most_common(1)[0][1] < 2
            else:
                hard = any(prm_difficult(list(prm(row[p.key["input"]], o))) for o in outs)
            rows.append(dict(row, responses=outs, scores=scores, difficult=hard))
        write_jsonl(root / "dev_answers.jsonl", rows)

    return p.runner.run(Stage("difficult", settings, [dev_sig], ["dev_answers.jsonl"], compute))


def missing(p, difficult_rows: list[dict], skill_list, inputs: list):
    """The skills each difficult question misses: the teacher's reading of the failed answer, or without a teacher
    the question's own skills (its ``--stat.skill_key``)."""
    from openrlhf_weakness.retrieve.tags import field_tags
    from openrlhf_weakness.stat.teacher import MISSING_PROMPT, parse_missing

    cfg = p.cfg
    settings = {
        "teacher": model_settings(p.teacher) if p.teacher.model else None,
        "max_skills": cfg.max_skills,
        "skill_key": cfg.skill_key,
    }

    def parse(text: str):
        verdict, found = parse_missing(text, skill_list, cfg.max_skills)
        return (verdict, found) if verdict != "unknown" or found else None

    def compute(root: Path) -> None:
        rows = []
        if p.teacher.model:
            listing = "\n".join(skill_list.names)
            prompts = [
                MISSING_PROMPT.format(
                    skills=listing,
                    question=r[p.key["input"]],
                    answer=r["responses"][0],
                    reference=r[p.key["reference"]],
                )
                for r in difficult_rows
            ]
            reminder = (
                "Reply again in the required format: <judge>correct</judge> or <judge>incorrect</judge>, then the "
                "missing skills from the list inside <skill>...</skill>."
            )
            parsed = p.ask_teacher_parsed(prompts, "missing", parse, reminder) if prompts else []
            for row, found in zip(difficult_rows, parsed):
                verdict, skills_missed = found or ("unknown", [])
                rows.append(dict(row, verdict=verdict, missing=skills_missed))
        else:  # no teacher: a difficult question misses its own skills (e.g. its generator)
            tags = field_tags(difficult_rows, cfg.skill_key or "skills")
            rows = [dict(r, verdict="incorrect", missing=skill_list.resolve(t)) for r, t in zip(difficult_rows, tags)]
        write_jsonl(root / "missing.jsonl", rows)

    rows, sig = p.runner.run(Stage("missing", settings, inputs, ["missing.jsonl"], compute))
    p.counts["teacher_said_correct"] = sum(1 for r in rows if r["verdict"] == "correct")
    p.counts["no_missing_skill"] = sum(1 for r in rows if not r["missing"])
    return [r["missing"] for r in rows], sig


def select(p, train: list[dict], labels_of, missed, inputs: list) -> dict:
    """Missing-Skill-Profile, STAT-Sel weights (``stat_sel.jsonl``), the materialised draw and its GRPO prompts."""
    from openrlhf_weakness.stat.grpo_export import grpo_prompt_rows
    from openrlhf_weakness.stat.profile import (
        SkillMap,
        draw_from_weights,
        missing_skill_profile,
        per_pair_draw,
        sel_weights,
    )
    from openrlhf_weakness.stat.report import write_profile

    cfg = p.cfg
    settings = {"k": cfg.k, "size": cfg.size, "seed": cfg.seed}

    def compute(root: Path) -> None:
        profile = missing_skill_profile(missed)
        skill_map = SkillMap.from_labels(labels_of)
        try:
            weights, report = sel_weights(skill_map, profile, cfg.k)
        except ValueError as err:
            raise p.error(str(err)) from None
        write_jsonl(root / "stat_sel.jsonl", [dict(r, stat_weight=float(w)) for r, w in zip(train, weights)])
        if cfg.size:  # a fixed budget: k scales every weight alike and cancels
            draw = draw_from_weights(weights, cfg.size, cfg.seed)
        else:  # the paper's algorithm: k rows per (difficult question, missing skill), so k sets the size
            draw = per_pair_draw(skill_map, missed, cfg.k, cfg.seed)
        write_jsonl(root / "stat_sel_draw.jsonl", [train[i] for i in draw])
        keys = (p.key["input"], p.key["output"])
        rows = grpo_prompt_rows([train[i] for i in draw], [labels_of[i] for i in draw], *keys)
        write_jsonl(root / "grpo_prompts.jsonl", rows)  # the draw, as prompts for GRPO after SFT
        write_profile(root, profile, len(missed), {"k": cfg.k, **report, **dict(p.counts)})

    outputs = ["profile.json", "profile.png", "stat_sel.jsonl", "stat_sel_draw.jsonl", "grpo_prompts.jsonl"]
    profile, _ = p.runner.run(
        Stage("select", settings, inputs, outputs, compute, lambda r: read_json(r / "profile.json"))
    )
    logger.info(
        "[stat] profile: %s from %d difficult questions", dict(Counter(profile["counts"]).most_common(8)), len(missed)
    )
    return profile


def synthesize(p, train, labels_of, difficult_rows, missed, test: list[dict], inputs: list) -> int:
    """STAT-Syn: new questions for each (difficult question, missing skill), kept when 2+ teacher solutions agree
    and the question is no near-duplicate of a training, difficult or test question."""
    from openrlhf_weakness.retrieve.decontaminate import Decontaminator
    from openrlhf_weakness.stat.synthesis import consistent_solutions
    from openrlhf_weakness.stat.teacher import SYNTH_PROMPT, parse_questions

    cfg, key = p.cfg, p.key
    settings = {
        "teacher": model_settings(p.teacher),
        "syn_per_pair": cfg.syn_per_pair,
        "syn_solutions": cfg.syn_solutions,
        "seed": cfg.seed,
    }

    def compute(root: Path) -> None:
        rng = random.Random(cfg.seed)
        by_skill: dict[str, list] = {}
        for row, lab in zip(train, labels_of):
            for s in lab:
                by_skill.setdefault(s, []).append(row)
        jobs = [(q, s) for q, ms in zip(difficult_rows, missed) for s in ms if s in by_skill]
        prompts = []
        for _, s in jobs:
            shots = rng.sample(by_skill[s], min(3, len(by_skill[s])))
            examples = "\n\n".join(f"Question: {r[key['input']]}\nSolution: {r[key['output']]}" for r in shots)
            prompts.append(SYNTH_PROMPT.format(skill=s, examples=examples, n=cfg.syn_per_pair))
        drafts = p.ask_teacher(prompts, "synthesize questions") if prompts else []
        questions = [(q, s) for (_, s), d in zip(jobs, drafts) for q in parse_questions(d[0])[: cfg.syn_per_pair]]
        seen = Decontaminator([r[key["input"]] for r in train + difficult_rows + test], n=8, threshold=0.6)
        fresh = [(q, s) for q, s in questions if not seen.contaminated(q)]
        p.counts["syn_near_duplicates"] = len(questions) - len(fresh)
        solved = []
        if fresh:
            solved = p.ask_teacher([q for q, _ in fresh], "solve new questions", n=cfg.syn_solutions, temperature=0.7)
        rows = []
        for (q, s), sols in zip(fresh, solved):
            agreeing = consistent_solutions(sols)
            if not agreeing:
                p.counts["syn_dropped_disagreeing"] += 1
            rows += [{key["input"]: q, key["output"]: sol, "skill": s, "synthesized": True} for sol in agreeing]
        write_jsonl(root / "stat_syn.jsonl", rows)
        logger.info("[stat] STAT-Syn: %d rows from %d new questions; counts %s", len(rows), len(fresh), dict(p.counts))

    count = lambda root: sum(1 for _ in open(root / "stat_syn.jsonl"))
    return p.runner.run(Stage("synthesize", settings, inputs, ["stat_syn.jsonl"], compute, count))[0]
