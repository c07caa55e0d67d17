"""The STAT stages: skills, labels (skill map), difficult questions, missing skills, profile + STAT-Sel, STAT-Syn.

Each stage is a method with typed inputs that writes its artifact atomically in the run directory under a signature
of the settings and inputs it depends on (:mod:`openrlhf_weakness.io.stages`): a rerun reuses what still holds and
recomputes a stage whose settings or inputs changed, and every stage after it. Errors are :class:`StatError`.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from openrlhf_weakness.backends.config import model_settings
from openrlhf_weakness.stat.config import StatConfig, StatData

logger = logging.getLogger(__name__)


class StatError(ValueError):
    """The STAT pipeline cannot go on (the message names the file, line, key or flag)."""


class StatPipeline:
    def __init__(self, cfg: StatConfig, data: StatData, gen, teacher, assess, judge=None):
        """``gen``: the student; ``teacher``: STAT's teacher (``--teacher.*``); ``judge``: the LLM judge's settings
        (``--judge.*``) when ``assess.assessor`` is judge."""
        from openrlhf_weakness.io import lock_run_dir
        from openrlhf_weakness.io.stages import StageRecords

        if not data.train or not data.dev:
            raise StatError("--data.train and --data.dev are required")
        self.cfg, self.data, self.gen, self.teacher, self.assess = cfg, data, gen, teacher, assess
        if assess.assessor == "judge" and (judge is None or not judge.model):
            raise StatError("--assess.assessor judge needs a judge model: --judge.model (and --judge.backend)")
        self.judge = judge if assess.assessor == "judge" else None
        from openrlhf_weakness.backends.openai_compat import OpenAIClientError, check_servers

        try:  # a server that is down stops the run here, before any student work
            check_servers({"--gen": gen, "--teacher": teacher, "--judge": self.judge})
        except OpenAIClientError as err:
            raise StatError(str(err)) from None
        self.root = Path(cfg.run_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_fd = lock_run_dir(self.root)  # one process per run directory
        self.records = StageRecords(self.root)
        self.key = {"input": data.input_key, "output": data.output_key, "reference": data.reference_key}
        self._teacher_backend = None
        self.counts: Counter = Counter()

    def close(self) -> None:
        import os

        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def log(self, message: str) -> None:
        logger.info("[stat] %s", message)

    def load(self, path: str, keys: list[str]) -> list[dict]:
        from openrlhf_weakness.io import DataError, load_rows

        try:
            return [row for _, row in load_rows(path, keys, allow_empty=False)[0]]
        except DataError as err:
            raise StatError(str(err)) from None
        except FileNotFoundError:
            raise StatError(f"{path}: no such file") from None

    def _teacher_engine(self):
        from openrlhf_weakness.backends.driver import make_backend

        if not self.teacher.model:
            raise StatError("this stage needs a teacher: --teacher.backend and --teacher.model")
        if self._teacher_backend is None:
            self._teacher_backend = make_backend(self.teacher)
        return self._teacher_backend

    def ask_teacher(self, prompts: list, desc: str, n: int = 1, temperature: float | None = None) -> list[list[str]]:
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import generate_all

        self._teacher_engine()
        params = SamplingParams.from_config(
            replace(self.teacher, n=n, temperature=self.teacher.temperature if temperature is None else temperature)
        )
        cache = open_cache(self.teacher, self.root / "cache")
        return generate_all(self._teacher_backend, prompts, params, cache, desc)[0]

    def _judge_with_cache(self):
        """The judge's settings, its replies cached in the run directory unless the user chose a cache."""
        if self.judge is None or self.judge.cache_dir or self.judge.no_cache_enable:
            return self.judge
        return replace(self.judge, cache_dir=str(self.root / "cache"))

    def ask_teacher_parsed(self, prompts: list, stage: str, parse, reminder: str) -> list:
        """The teacher's parsed replies (None where even ``--teacher.parse_retries`` retries did not parse); the
        counts are logged and kept as ``<stage>.parse.json`` for final.json."""
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.parsed import generate_parsed
        from openrlhf_weakness.io import write_json

        backend = self._teacher_engine()
        params, cache = SamplingParams.from_config(self.teacher), open_cache(self.teacher, self.root / "cache")
        retries = getattr(self.teacher, "parse_retries", 0)
        values, _, report = generate_parsed(
            backend, prompts, params, parse, retries, reminder, f"teacher {stage}", cache
        )
        self.log(report.line())
        write_json(self.root / f"{stage}.parse.json", report.as_dict())
        return values

    def _stage(self, name: str, settings: dict, inputs: list, artifacts: list[str]) -> tuple[str, bool]:
        return self.records.begin(name, settings, inputs, [self.root / a for a in artifacts])

    # ---- stages ----------------------------------------------------------------------------------------------
    def skills(self, train: list[dict], train_sig: str):
        from openrlhf_weakness.io import write_json
        from openrlhf_weakness.io.stages import file_digest
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.skills import SkillList
        from openrlhf_weakness.stat.teacher import SKILLS_PROMPT, parse_skill_list

        settings = {
            "skill_list": self.cfg.skill_list,
            "skill_list_digest": file_digest(self.cfg.skill_list),
            "skill_key": self.cfg.skill_key,
            "skill_sample": self.cfg.skill_sample,
            "teacher": None if self.cfg.skill_list or self.cfg.skill_key else model_settings(self.teacher),
        }
        sig, reuse = self._stage("skills", settings, [train_sig], ["skills.json"])
        path = self.root / "skills.json"
        if not reuse:
            if self.cfg.skill_list:
                names = [line.rstrip("\n") for line in open(self.cfg.skill_list) if line.strip()]
                source = self.cfg.skill_list
            elif self.cfg.skill_key:
                names, source = sorted({t for tags in field_tags(train, self.cfg.skill_key) for t in tags}), "field"
                if not names:
                    keys = sorted(train[0]) if train else []
                    raise StatError(
                        f"--stat.skill_key {self.cfg.skill_key!r}: no training row has a value under this "
                        f"key (the first row's keys: {', '.join(keys)})"
                    )
            else:
                examples = "\n".join(f"- {row[self.key['input']]}" for row in train[: self.cfg.skill_sample])
                answer = self.ask_teacher([SKILLS_PROMPT.format(examples=examples)], "skills")[0][0]
                names, source = parse_skill_list(answer), "teacher"
            skills = SkillList(names, source=source)
            write_json(path, {"skills": skills.names, "duplicates_dropped": skills.duplicates, "source": source})
            self.records.done("skills", sig, settings)
        return SkillList(json.loads(path.read_text())["skills"]), sig

    def labels(self, train: list[dict], skills, skills_sig: str) -> tuple[list[list[str]], str]:
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.teacher import LABEL_PROMPT, parse_labels

        settings = {
            "skill_key": self.cfg.skill_key,
            "max_skills": self.cfg.max_skills,
            "teacher": None if self.cfg.skill_key else model_settings(self.teacher),
        }
        sig, reuse = self._stage("labels", settings, [skills_sig], ["labels.jsonl"])
        path = self.root / "labels.jsonl"
        if not reuse:
            if self.cfg.skill_key:
                labels = [skills.resolve(tags, self.cfg.max_skills) for tags in field_tags(train, self.cfg.skill_key)]
            else:
                listing = "\n".join(skills.names)
                prompts = [
                    LABEL_PROMPT.format(skills=listing, question=r[self.key["input"]], max_skills=self.cfg.max_skills)
                    for r in train
                ]
                parsed = self.ask_teacher_parsed(
                    prompts,
                    "labels",
                    lambda text: parse_labels(text, skills, self.cfg.max_skills) or None,
                    "None of those is a skill from the list. Reply again with the skills from the list only, inside "
                    "<skill>...</skill>, separated by commas.",
                )
                labels = [found or [] for found in parsed]
            write_jsonl(path, [dict(row, skills=lab) for row, lab in zip(train, labels)])
            self.records.done("labels", sig, settings)
            self.log(
                f"labels: {sum(1 for lab in labels if not lab)} of {len(labels)} examples have no known skill; "
                f"unknown names dropped: {sum(skills.dropped.values())}"
            )
        return [json.loads(line)["skills"] for line in open(path)], sig

    def difficult(self, dev: list[dict], dev_sig: str) -> tuple[list[dict], str]:
        """The student's answers to dev, scored; ``difficult`` by ``--stat.difficulty``."""
        from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
        from openrlhf_weakness.assess.config import make_assessor
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import make_backend
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.io.stages import file_digest
        from openrlhf_weakness.stat.profile import prm_difficult
        from openrlhf_weakness.stat.synthesis import final_answer

        settings = {
            "student": model_settings(self.gen),
            "samples": self.cfg.samples,
            "difficulty": self.cfg.difficulty,
            "prm": file_digest(self.cfg.prm_path) if self.cfg.difficulty == "prm" else None,
            "assess": asdict(self.assess),
            "judge": model_settings(self.judge) if self.judge else None,
        }
        sig, reuse = self._stage("difficult", settings, [dev_sig], ["dev_answers.jsonl"])
        path = self.root / "dev_answers.jsonl"
        if not reuse:
            prm = self._prm() if self.cfg.difficulty == "prm" else None
            gen = replace(self.gen, n=self.cfg.samples)
            keys = RowKeys(self.key["input"], self.key["reference"])
            cache, params = open_cache(gen, self.root / "cache"), SamplingParams.from_config(gen)
            answered, _ = answer_and_assess(
                make_backend(gen),
                make_assessor(self.assess, self._judge_with_cache()),
                dev,
                params,
                keys,
                self.assess.bad_below,
                cache,
                "student answers dev",
                samples=True,
            )
            rows = []
            for row, scored in zip(dev, answered):
                outs, scores = scored["responses"], scored["scores"]
                correct = sum(1 for s in scores if s is not None and s >= self.assess.bad_below)
                if self.cfg.difficulty == "correctness":
                    hard = correct * 2 < len(outs)
                elif self.cfg.difficulty == "consistency":
                    hard = Counter(final_answer(o) for o in outs).most_common(1)[0][1] < 2
                else:
                    hard = any(prm_difficult(list(prm(row[self.key["input"]], o))) for o in outs)
                rows.append(dict(row, responses=outs, scores=scores, difficult=hard))
            write_jsonl(path, rows)
            self.records.done("difficult", sig, settings)
        return [json.loads(line) for line in open(path)], sig

    def ledger_rows(self, path: str) -> list[dict]:
        """Weakness-ledger failures (GRPO's reward hook) as difficult questions; their datasource is their skill."""
        from openrlhf_weakness.data.labels import reference_text

        out = []
        for row in self.load(path, ["prompt", "response", "label"]):
            item = {
                self.key["input"]: row.get("input") or row["prompt"],
                self.key["reference"]: reference_text(row["label"]),
                "responses": [row["response"]],
                "difficult": True,
                "from_ledger": True,
            }
            if self.cfg.skill_key:
                item[self.cfg.skill_key] = row.get("datasource")
            out.append(item)
        return out

    def _prm(self):
        import importlib.util

        if not self.cfg.prm_path:
            raise StatError("--stat.difficulty prm needs --stat.prm_path (a file defining step_scores)")
        spec = importlib.util.spec_from_file_location("orw_prm", self.cfg.prm_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "step_scores", None)):
            raise StatError(f"{self.cfg.prm_path} must define step_scores(question, answer)")
        return module.step_scores

    def missing(self, difficult: list[dict], skills, inputs: list) -> tuple[list[list[str]], str]:
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.teacher import MISSING_PROMPT, parse_missing

        settings = {
            "teacher": model_settings(self.teacher) if self.teacher.model else None,
            "max_skills": self.cfg.max_skills,
            "skill_key": self.cfg.skill_key,
        }
        sig, reuse = self._stage("missing", settings, inputs, ["missing.jsonl"])
        path = self.root / "missing.jsonl"
        if not reuse:
            rows = []
            if self.teacher.model:
                listing = "\n".join(skills.names)

                prompts = [
                    MISSING_PROMPT.format(
                        skills=listing,
                        question=r[self.key["input"]],
                        answer=r["responses"][0],
                        reference=r[self.key["reference"]],
                    )
                    for r in difficult
                ]

                def parse(text: str):
                    verdict, missing = parse_missing(text, skills, self.cfg.max_skills)
                    return (verdict, missing) if verdict != "unknown" or missing else None

                parsed = (
                    self.ask_teacher_parsed(
                        prompts,
                        "missing",
                        parse,
                        "Reply again in the required format: <judge>correct</judge> or <judge>incorrect</judge>, then "
                        "the missing skills from the list inside <skill>...</skill>.",
                    )
                    if prompts
                    else []
                )
                for row, found in zip(difficult, parsed):
                    verdict, missing = found or ("unknown", [])
                    rows.append(dict(row, verdict=verdict, missing=missing))
            else:  # no teacher: a difficult question misses its own skills (e.g. its generator)
                tags = field_tags(difficult, self.cfg.skill_key or "skills")
                rows = [dict(row, verdict="incorrect", missing=skills.resolve(t)) for row, t in zip(difficult, tags)]
            write_jsonl(path, rows)
            self.records.done("missing", sig, settings)
        rows = [json.loads(line) for line in open(path)]
        self.counts["teacher_said_correct"] = sum(1 for r in rows if r["verdict"] == "correct")
        self.counts["no_missing_skill"] = sum(1 for r in rows if not r["missing"])
        return [r["missing"] for r in rows], sig

    def select(self, train: list[dict], labels, missing, inputs: list) -> dict:
        """Missing-Skill-Profile, STAT-Sel weights (``stat_sel.jsonl``) and the materialised draw."""
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.stat.grpo_export import grpo_prompt_rows
        from openrlhf_weakness.stat.profile import (
            SkillMap,
            draw_from_weights,
            missing_skill_profile,
            per_pair_draw,
            sel_weights,
        )
        from openrlhf_weakness.stat.report import write_profile

        settings = {"k": self.cfg.k, "size": self.cfg.size, "seed": self.cfg.seed}
        artifacts = ["profile.json", "profile.png", "stat_sel.jsonl", "stat_sel_draw.jsonl", "grpo_prompts.jsonl"]
        sig, reuse = self._stage("select", settings, inputs, artifacts)
        if not reuse:
            profile = missing_skill_profile(missing)
            skill_map = SkillMap.from_labels(labels)
            try:
                weights, report = sel_weights(skill_map, profile, self.cfg.k)
            except ValueError as err:
                raise StatError(str(err)) from None
            write_jsonl(self.root / "stat_sel.jsonl", [dict(r, stat_weight=float(w)) for r, w in zip(train, weights)])
            if self.cfg.size:  # a fixed budget: k scales every weight alike and cancels
                draw = draw_from_weights(weights, self.cfg.size, self.cfg.seed)
            else:  # the paper's algorithm: k rows per (difficult question, missing skill), so k sets the size
                draw = per_pair_draw(skill_map, missing, self.cfg.k, self.cfg.seed)
            write_jsonl(self.root / "stat_sel_draw.jsonl", [train[i] for i in draw])
            keys = (self.key["input"], self.key["output"])
            rows = grpo_prompt_rows([train[i] for i in draw], [labels[i] for i in draw], *keys)
            write_jsonl(self.root / "grpo_prompts.jsonl", rows)  # the draw, as prompts for GRPO after SFT
            write_profile(self.root, profile, len(missing), {"k": self.cfg.k, **report, **dict(self.counts)})
            self.records.done("select", sig, settings)
        profile = json.loads((self.root / "profile.json").read_text())
        self.log(f"profile: {dict(Counter(profile['counts']).most_common(8))} from {len(missing)} difficult questions")
        return profile

    def synthesize(self, train, labels, difficult, missing, test: list[dict], inputs: list) -> int:
        """STAT-Syn: new questions for each (difficult question, missing skill), kept when 2+ teacher solutions
        agree and the question is no near-duplicate of a training, difficult or test question."""
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.decontaminate import Decontaminator
        from openrlhf_weakness.stat.synthesis import consistent_solutions
        from openrlhf_weakness.stat.teacher import SYNTH_PROMPT, parse_questions

        settings = {
            "teacher": model_settings(self.teacher),
            "syn_per_pair": self.cfg.syn_per_pair,
            "syn_solutions": self.cfg.syn_solutions,
            "seed": self.cfg.seed,
        }
        sig, reuse = self._stage("synthesize", settings, inputs, ["stat_syn.jsonl"])
        path = self.root / "stat_syn.jsonl"
        if reuse:
            return sum(1 for _ in open(path))
        rng = random.Random(self.cfg.seed)
        by_skill: dict[str, list] = {}
        for row, lab in zip(train, labels):
            for s in lab:
                by_skill.setdefault(s, []).append(row)
        jobs = [(q, s) for q, ms in zip(difficult, missing) for s in ms if s in by_skill]
        prompts = []
        for _, s in jobs:
            shots = rng.sample(by_skill[s], min(3, len(by_skill[s])))
            examples = "\n\n".join(
                f"Question: {r[self.key['input']]}\nSolution: {r[self.key['output']]}" for r in shots
            )
            prompts.append(SYNTH_PROMPT.format(skill=s, examples=examples, n=self.cfg.syn_per_pair))
        drafts = self.ask_teacher(prompts, "synthesize questions") if prompts else []
        questions = [(q, s) for (_, s), d in zip(jobs, drafts) for q in parse_questions(d[0])[: self.cfg.syn_per_pair]]
        seen = Decontaminator([r[self.key["input"]] for r in train + difficult + test], n=8, threshold=0.6)
        fresh = [(q, s) for q, s in questions if not seen.contaminated(q)]
        self.counts["syn_near_duplicates"] = len(questions) - len(fresh)
        solved = []
        if fresh:
            solved = self.ask_teacher(
                [q for q, _ in fresh], "solve new questions", n=self.cfg.syn_solutions, temperature=0.7
            )
        rows = []
        for (q, s), sols in zip(fresh, solved):
            agreeing = consistent_solutions(sols)
            if not agreeing:
                self.counts["syn_dropped_disagreeing"] += 1
            rows += [
                {self.key["input"]: q, self.key["output"]: sol, "skill": s, "synthesized": True} for sol in agreeing
            ]
        write_jsonl(path, rows)
        self.records.done("synthesize", sig, settings)
        self.log(f"STAT-Syn: {len(rows)} rows from {len(fresh)} new questions; counts {dict(self.counts)}")
        return len(rows)

    # ---- the whole pipeline ----------------------------------------------------------------------------------
    def run(self) -> dict:
        """Every stage in order; returns (and writes as ``final.json`` and ``report.md``) what came out."""
        from openrlhf_weakness.io.stages import file_digest

        train = self.load(self.data.train, [self.key["input"], self.key["output"]])
        dev = self.load(self.data.dev, [self.key["input"], self.key["reference"]])
        test = self.load(self.data.test, [self.key["input"]]) if self.data.test else []
        keys = sorted(self.key.items())
        train_sig, dev_sig = [file_digest(self.data.train), keys], [file_digest(self.data.dev), keys]
        skills, skills_sig = self.skills(train, train_sig)
        labels, labels_sig = self.labels(train, skills, skills_sig)
        answered, difficult_sig = self.difficult(dev, dev_sig)
        difficult = [r for r in answered if r["difficult"]]
        self.log(f"difficult: {len(difficult)} of {len(answered)} dev questions")
        if self.data.ledger:
            ledger = self.ledger_rows(self.data.ledger)
            self.log(f"difficult: {len(ledger)} more from the ledger")
            difficult += ledger
        final = {
            "run_dir": str(self.root),
            "skills": len(skills.names),
            "train": len(train),
            "dev": len(answered),
            "difficult": len(difficult),
        }
        if difficult:
            missing, missing_sig = self.missing(
                difficult, skills, [skills_sig, difficult_sig, file_digest(self.data.ledger)]
            )
            final["profile"] = self.select(train, labels, missing, [labels_sig, missing_sig])["counts"]
            if self.cfg.syn_enable:
                final["stat_syn_rows"] = self.synthesize(
                    train, labels, difficult, missing, test, [labels_sig, missing_sig, file_digest(self.data.test)]
                )
        else:
            self.log("no difficult questions: nothing to target")
        parse = {p.name.split(".")[0]: json.loads(p.read_text()) for p in sorted(self.root.glob("*.parse.json"))}
        final.update(
            counts=dict(self.counts), stages=self.records.decisions, stage_seconds=self.records.seconds, parse=parse
        )
        write_stat_report(self.root, final)
        self.log(
            f"done: {self.root}/final.json, report.md"
            + (
                ", stat_sel.jsonl (weights), stat_sel_draw.jsonl, grpo_prompts.jsonl, " "profile.json, profile.png"
                if difficult
                else ""
            )
        )
        return final


def write_stat_report(root: Path, final: dict) -> None:
    from openrlhf_weakness.io import write_json

    write_json(root / "final.json", final)
    lines = [
        f"# STAT run: {root}",
        "",
        f"- training examples: {final['train']}; skills: {final['skills']}",
        f"- dev questions: {final['dev']}; difficult (with the ledger): {final['difficult']}",
        "",
    ]
    if final.get("profile"):
        lines += (
            [
                "## Missing-Skill-Profile",
                "",
                "![profile](profile.png)",
                "",
                "| skill | difficult questions |",
                "|---|---|",
            ]
            + [f"| {k} | {v} |" for k, v in list(final["profile"].items())[:20]]
            + [""]
        )
    if "stat_syn_rows" in final:
        lines += [f"STAT-Syn rows: {final['stat_syn_rows']}", ""]
    lines += ["## Stages", "", "| stage | action | why | seconds |", "|---|---|---|---|"]
    lines += [
        f"| {d['stage']} | {d['action']} | {d.get('why', '')} | {final['stage_seconds'].get(d['stage'], 0):.1f} |"
        for d in final["stages"]
    ]
    tmp = root / "report.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(root / "report.md")
