"""The STAT pipeline: skills, labels (skill map), difficult questions, Missing-Skill-Profile, STAT-Sel, STAT-Syn.

    python -m openrlhf_weakness.cli.stat --stat.run_dir runs/stat --data.train train.jsonl --data.dev dev.jsonl \\
        --gen.model ./student --teacher.backend openai --teacher.base_url http://127.0.0.1:8000/v1 \\
        --teacher.model teacher --assess.assessor math [--stat.syn_enable]

Train rows need ``--data.input_key`` (question) and ``--data.output_key`` (solution); dev rows the question and
``--data.reference_key``. Without a teacher, skills come from ``--stat.skill_key`` (e.g. the generator name) and a
difficult question misses its own skills. Every stage writes JSON Lines in the run directory and is skipped when
its output exists. Then: ``cli.train_stat_sft --data.dataset <run_dir>/stat_sel.jsonl`` (weighted sampler) or
``--data.dataset <run_dir>/stat_sel_draw.jsonl --stat.weight_key ''`` (materialised set), and GRPO.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.config import add_flags, flag, from_namespace


@dataclass
class StatConfig:
    """STAT stages."""

    run_dir: str = flag("runs/stat", "run directory")
    skill_list: str | None = flag(None, "a file with one skill per line (else the teacher derives the list)")
    skill_key: str | None = flag(None, "dataset key holding each example's skill(s): no teacher needed for labels")
    skill_sample: int = flag(50, "training questions shown to the teacher to derive the skill list")
    max_skills: int = flag(5, "skills per labelled question")
    samples: int = flag(1, "student answers per dev question")
    difficulty: str = flag("correctness", "correctness (majority of answers wrong), consistency (the most common "
                           "of the answers appears fewer than 2 times) or prm (a process reward model's step scores, "
                           "thresholds 0.85 / 0.85 / 0.7)", choices=["correctness", "consistency", "prm"])  # fmt: skip
    prm_path: str | None = flag(None, "prm: Python file defining step_scores(question, answer) -> list of floats")
    k: int = flag(5, "STAT-Sel: examples drawn from map(s) per (difficult question, missing skill)")
    size: int = flag(0, "STAT-Sel: size of the materialised set (0: as many as the training set)")
    seed: int = flag(0, "sampling seed")
    syn_enable: bool = flag(False, "run STAT-Syn (needs a teacher)")
    syn_per_pair: int = flag(2, "STAT-Syn: new questions per (difficult question, missing skill)")
    syn_solutions: int = flag(3, "STAT-Syn: teacher solutions per new question (at least 2 must agree)")


class Pipeline:
    def __init__(self, cfg: StatConfig, args, gen, teacher, assess):
        self.cfg, self.args, self.gen, self.teacher, self.assess = cfg, args, gen, teacher, assess
        self.root = Path(cfg.run_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        from openrlhf_weakness.io import lock_run_dir

        self.lock_fd = lock_run_dir(self.root)  # one process per run directory
        self.key = {k: getattr(args, f"data.{k}_key") for k in ("input", "output", "reference")}
        self._teacher_backend = None
        self.counts: Counter = Counter()

    def log(self, message: str) -> None:
        print(f"[stat] {message}", flush=True)

    def ask_teacher(self, prompts: list, desc: str, n: int = 1, temperature: float | None = None) -> list[list[str]]:
        from dataclasses import replace

        from openrlhf_weakness.backends.cache import ResponseCache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import generate_all, make_backend

        if not self.teacher.model:
            raise SystemExit("stat: this stage needs a teacher: --teacher.backend and --teacher.model")
        if self._teacher_backend is None:
            self._teacher_backend = make_backend(self.teacher)
        params = SamplingParams.from_config(replace(self.teacher, n=n, temperature=self.teacher.temperature
                                                    if temperature is None else temperature))  # fmt: skip
        cache = None if self.teacher.no_cache_enable else ResponseCache(self.root / "cache")
        return generate_all(self._teacher_backend, prompts, params, cache, desc)[0]

    def load(self, path: str, keys: list[str]) -> list[dict]:
        from openrlhf_weakness.io import DataError, load_rows

        try:
            return [row for _, row in load_rows(path, keys)[0]]
        except (DataError, FileNotFoundError) as err:
            raise SystemExit(f"stat: {err}")

    # ---- stages ----------------------------------------------------------------------------------------------
    def skills(self, train: list[dict]):
        from openrlhf_weakness.io import write_json
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.skills import SkillList
        from openrlhf_weakness.stat.teacher import SKILLS_PROMPT, parse_skill_list

        path = self.root / "skills.json"
        if not path.exists():
            if self.cfg.skill_list:
                names = [line.rstrip("\n") for line in open(self.cfg.skill_list) if line.strip()]
                source = self.cfg.skill_list
            elif self.cfg.skill_key:
                names, source = sorted({t for tags in field_tags(train, self.cfg.skill_key) for t in tags}), "field"
            else:
                sample = train[: self.cfg.skill_sample]
                examples = "\n".join(f"- {row[self.key['input']]}" for row in sample)
                names, source = (
                    parse_skill_list(self.ask_teacher([SKILLS_PROMPT.format(examples=examples)], "skills")[0][0]),
                    "teacher",
                )
            skills = SkillList(names, source=source)
            write_json(path, {"skills": skills.names, "duplicates_dropped": skills.duplicates, "source": source})
        return SkillList(json.loads(path.read_text())["skills"])

    def labels(self, train: list[dict], skills) -> list[list[str]]:
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.teacher import LABEL_PROMPT, parse_labels

        path = self.root / "labels.jsonl"
        if not path.exists():
            if self.cfg.skill_key:
                labels = [skills.resolve(tags, self.cfg.max_skills) for tags in field_tags(train, self.cfg.skill_key)]
            else:
                listing = "\n".join(skills.names)
                prompts = [LABEL_PROMPT.format(skills=listing, question=r[self.key["input"]], max_skills=self.cfg.max_skills)
                           for r in train]  # fmt: skip
                answers = self.ask_teacher(prompts, "label")
                labels = [parse_labels(a[0], skills, self.cfg.max_skills) for a in answers]
            write_jsonl(path, [dict(row, skills=lab) for row, lab in zip(train, labels)])
            self.log(f"labels: {sum(1 for lab in labels if not lab)} of {len(labels)} examples have no known skill; "
                     f"unknown names dropped: {sum(skills.dropped.values())}")  # fmt: skip
        return [json.loads(line)["skills"] for line in open(path)]

    def difficult(self, dev: list[dict]) -> list[dict]:
        from dataclasses import replace

        from openrlhf_weakness.assess.base import Item
        from openrlhf_weakness.assess.config import make_assessor
        from openrlhf_weakness.backends.cache import ResponseCache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import generate_all, make_backend
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.stat.profile import prm_difficult
        from openrlhf_weakness.stat.synthesis import final_answer

        path = self.root / "dev_answers.jsonl"
        if not path.exists():
            gen = replace(self.gen, n=self.cfg.samples)
            params = SamplingParams.from_config(gen)
            answers, _ = generate_all(make_backend(gen), [r[self.key["input"]] for r in dev], params,
                                      ResponseCache(self.root / "cache"), "student answers dev")  # fmt: skip
            assessor = make_assessor(self.assess)
            prm = self._prm() if self.cfg.difficulty == "prm" else None
            rows = []
            for row, outs in zip(dev, answers):
                scores = [
                    a.score
                    for a in assessor.assess_batch(
                        [Item(row[self.key["input"]], o, row[self.key["reference"]]) for o in outs]
                    )
                ]
                correct = sum(1 for s in scores if s is not None and s >= self.assess.bad_below)
                if self.cfg.difficulty == "correctness":
                    hard = correct * 2 < len(outs)
                elif self.cfg.difficulty == "consistency":
                    hard = Counter(final_answer(o) for o in outs).most_common(1)[0][1] < 2
                else:
                    hard = any(prm_difficult(list(prm(row[self.key["input"]], o))) for o in outs)
                rows.append(dict(row, responses=outs, scores=scores, difficult=hard))
            write_jsonl(path, rows)
        return [json.loads(line) for line in open(path)]

    def ledger_rows(self, path: str) -> list[dict]:
        """Weakness-ledger failures (GRPO's reward hook) as difficult questions; their datasource is their skill."""
        from openrlhf_weakness.apt.pairs import reference_text

        out = []
        for row in self.load(path, ["prompt", "response", "label"]):
            item = {self.key["input"]: row["prompt"], self.key["reference"]: reference_text(row["label"]),
                    "responses": [row["response"]], "difficult": True, "from_ledger": True}  # fmt: skip
            if self.cfg.skill_key:
                item[self.cfg.skill_key] = row.get("datasource")
            out.append(item)
        return out

    def _prm(self):
        import importlib.util

        if not self.cfg.prm_path:
            raise SystemExit("stat: --stat.difficulty prm needs --stat.prm_path (a file defining step_scores)")
        spec = importlib.util.spec_from_file_location("orw_prm", self.cfg.prm_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "step_scores", None)):
            raise SystemExit(f"stat: {self.cfg.prm_path} must define step_scores(question, answer)")
        return module.step_scores

    def missing(self, difficult: list[dict], skills) -> list[list[str]]:
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.tags import field_tags
        from openrlhf_weakness.stat.teacher import MISSING_PROMPT, parse_missing

        path = self.root / "missing.jsonl"
        if not path.exists():
            rows = []
            if self.teacher.model:
                listing = "\n".join(skills.names)
                prompts = [MISSING_PROMPT.format(skills=listing, question=r[self.key["input"]], answer=r["responses"][0],
                                                 reference=r[self.key["reference"]]) for r in difficult]  # fmt: skip
                answers = self.ask_teacher(prompts, "missing skills") if prompts else []
                for row, a in zip(difficult, answers):
                    verdict, missing = parse_missing(a[0], skills, self.cfg.max_skills)
                    rows.append(dict(row, verdict=verdict, missing=missing))
            else:  # no teacher: a difficult question misses its own skills (e.g. its generator)
                tags = field_tags(difficult, self.cfg.skill_key or "skills")
                rows = [dict(row, verdict="incorrect", missing=skills.resolve(t)) for row, t in zip(difficult, tags)]
            write_jsonl(path, rows)
        rows = [json.loads(line) for line in open(path)]
        self.counts["teacher_said_correct"] = sum(1 for r in rows if r["verdict"] == "correct")
        self.counts["no_missing_skill"] = sum(1 for r in rows if not r["missing"])
        return [r["missing"] for r in rows]

    def select(self, train: list[dict], labels, missing) -> None:
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.stat.profile import SkillMap, draw_from_weights, missing_skill_profile, sel_weights
        from openrlhf_weakness.stat.report import write_profile

        skill_map = SkillMap.from_labels(labels)
        profile = missing_skill_profile(missing)
        try:
            weights, report = sel_weights(skill_map, profile, self.cfg.k)
        except ValueError as err:
            raise SystemExit(f"stat: {err}")
        write_profile(self.root, profile, len(missing), {"k": self.cfg.k, **report, **dict(self.counts)})
        self.log(f"profile: {dict(Counter(profile).most_common(8))} from {len(missing)} difficult questions")
        if not (self.root / "stat_sel.jsonl").exists():
            write_jsonl(self.root / "stat_sel.jsonl", [dict(r, stat_weight=float(w)) for r, w in zip(train, weights)])
        if not (self.root / "stat_sel_draw.jsonl").exists():
            draw = draw_from_weights(weights, self.cfg.size or len(train), self.cfg.seed)
            write_jsonl(self.root / "stat_sel_draw.jsonl", [train[i] for i in draw])

    def synthesize(self, train, labels, difficult, missing) -> None:
        import random

        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.retrieve.decontaminate import Decontaminator
        from openrlhf_weakness.stat.synthesis import consistent_solutions
        from openrlhf_weakness.stat.teacher import SYNTH_PROMPT, parse_questions

        path = self.root / "stat_syn.jsonl"
        if path.exists():
            return
        rng = random.Random(self.cfg.seed)
        by_skill = {}
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
        seen = Decontaminator(
            [r[self.key["input"]] for r in train] + [r[self.key["input"]] for r in difficult], n=8, threshold=0.6
        )
        fresh = [(q, s) for q, s in questions if not seen.contaminated(q)]
        self.counts["syn_near_duplicates"] = len(questions) - len(fresh)
        solved = (
            self.ask_teacher([q for q, _ in fresh], "solve new questions", n=self.cfg.syn_solutions, temperature=0.7)
            if fresh
            else []
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
        self.log(f"STAT-Syn: {len(rows)} rows from {len(fresh)} new questions; counts {dict(self.counts)}")

    def run(self) -> None:
        train = self.load(self.args.__dict__["data.train"], [self.key["input"], self.key["output"]])
        dev = self.load(self.args.__dict__["data.dev"], [self.key["input"], self.key["reference"]])
        skills = self.skills(train)
        labels = self.labels(train, skills)
        answered = self.difficult(dev)
        difficult = [r for r in answered if r["difficult"]]
        self.log(f"difficult: {len(difficult)} of {len(answered)} dev questions")
        if self.args.__dict__.get("data.ledger"):
            ledger = self.ledger_rows(self.args.__dict__["data.ledger"])
            self.log(f"difficult: {len(ledger)} more from the ledger")
            difficult += ledger
        if not difficult:
            self.log("no difficult questions: nothing to target")
            return
        missing = self.missing(difficult, skills)
        self.select(train, labels, missing)
        if self.cfg.syn_enable:
            self.synthesize(train, labels, difficult, missing)
        self.log(f"done: {self.root}/stat_sel.jsonl (weights), stat_sel_draw.jsonl, profile.json, profile.png")


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.stat", description=__doc__.splitlines()[0])
    parser.add_argument("--data.train", required=True)
    parser.add_argument("--data.dev", required=True)
    parser.add_argument("--data.test", default=None, help="test questions: STAT-Syn drops near-duplicates of them")
    parser.add_argument(
        "--data.ledger", default=None, help="weakness ledger: its failures join the difficult questions"
    )
    parser.add_argument("--data.input_key", default="input")
    parser.add_argument("--data.output_key", default="output")
    parser.add_argument("--data.reference_key", default="reference")
    add_flags(parser, StatConfig, "stat")
    add_flags(parser, GenerationConfig, "gen")  # the student
    add_flags(parser, GenerationConfig, "teacher")
    add_flags(parser, AssessConfig, "assess")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.io import RunDirBusy

    cfg = from_namespace(StatConfig, args, "stat")
    try:
        pipeline = Pipeline(cfg, args, from_namespace(GenerationConfig, args, "gen"),
                            from_namespace(GenerationConfig, args, "teacher"), from_namespace(AssessConfig, args, "assess"))  # fmt: skip
    except RunDirBusy as err:
        raise SystemExit(f"stat: {err}")
    try:
        pipeline.run()
    finally:
        os.close(pipeline.lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
