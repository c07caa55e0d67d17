"""The STAT pipeline: its settings, its teacher, its run directory and the order its stages run in
(:mod:`openrlhf_weakness.stat.stages`). The runner keeps each artifact under a signature of the settings and inputs it
depends on, so a rerun reuses what still holds and recomputes a changed stage and every stage after it. Errors are
:class:`StatError`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, replace

from openrlhf_weakness.data.keys import RowKeys
from openrlhf_weakness.stat import stages
from openrlhf_weakness.stat.config import StatConfig, StatData

logger = logging.getLogger(__name__)


class StatError(ValueError):
    """The STAT pipeline cannot go on (the message names the file, line, key or flag)."""


class StatPipeline:
    error = StatError

    def __init__(self, cfg: StatConfig, data: StatData, gen, teacher, assess, judge=None):
        """``gen``: the student; ``teacher``: STAT's teacher (``--teacher.*``); ``judge``: the LLM judge's settings
        (``--judge.*``) when ``assess.assessor`` is judge."""
        from openrlhf_weakness.assess.scoring import ScoringError, check_roles, judge_for
        from openrlhf_weakness.runner import StageRunner

        if not data.train or not data.dev:
            raise StatError("--data.train and --data.dev are required")
        try:
            judge = judge_for(assess, judge)
            check_roles({"--gen": gen, "--teacher": teacher, "--judge": judge})
        except ScoringError as err:
            raise StatError(str(err)) from None
        self.cfg, self.data, self.gen, self.teacher, self.assess, self.judge = cfg, data, gen, teacher, assess, judge
        config = {
            k: asdict(v) if v is not None else None
            for k, v in {
                "stat": cfg,
                "data": data,
                "gen": gen,
                "teacher": teacher,
                "assess": assess,
                "judge": judge,
            }.items()
        }
        self.runner = StageRunner(cfg.run_dir, config)  # one process per run directory
        self.root = self.runner.root
        keys = data.keys
        self.key = {"input": keys.input_key, "output": keys.output_key, "reference": keys.reference_key}
        self.row_keys = RowKeys(keys.input_key, keys.reference_key)  # answers go to 'response'
        self._teacher_backend = None
        self.counts: Counter = Counter()

    def close(self) -> None:
        self.runner.close()

    def log(self, message: str) -> None:
        logger.info("[stat] %s", message)

    def load(self, path: str, keys: list[str]) -> list[dict]:
        from openrlhf_weakness.data.inputs import read_input
        from openrlhf_weakness.io import DataError

        try:
            return read_input(path, keys)
        except DataError as err:
            raise StatError(str(err)) from None

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

        backend = self._teacher_engine()
        params = SamplingParams.from_config(
            replace(self.teacher, n=n, temperature=self.teacher.temperature if temperature is None else temperature)
        )
        return generate_all(backend, prompts, params, open_cache(self.teacher, self.root / "cache"), desc)[0]

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

    def ledger_rows(self, path: str) -> list[dict]:
        """Weakness-ledger failures (GRPO's reward hook) as difficult questions; their datasource is their skill."""
        from openrlhf_weakness.data.labels import reference_text
        from openrlhf_weakness.data.ledger import ledger_failures
        from openrlhf_weakness.io import DataError

        try:
            failures = ledger_failures(path)
        except DataError as err:
            raise StatError(str(err)) from None
        out = []
        for f in failures:
            item = {
                self.key["input"]: f["question"],
                self.key["reference"]: reference_text(f["label"]),
                "responses": [f["response"]],
                "difficult": True,
                "from_ledger": True,
            }
            if self.cfg.skill_key:
                item[self.cfg.skill_key] = f["datasource"]
            out.append(item)
        return out

    def prm(self):
        """``step_scores`` of the ``--stat.prm_path`` file (the process reward model for ``--stat.difficulty prm``)."""
        import importlib.util

        if not self.cfg.prm_path:
            raise StatError("--stat.difficulty prm needs --stat.prm_path (a file defining step_scores)")
        spec = importlib.util.spec_from_file_location("orw_prm", self.cfg.prm_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "step_scores", None)):
            raise StatError(f"{self.cfg.prm_path} must define step_scores(question, answer)")
        return module.step_scores

    def run(self) -> dict:
        """Every stage in order; returns (and writes as ``final.json`` and ``report.md``) what came out."""
        from openrlhf_weakness.io.stages import file_digest

        data, key = self.data, self.key
        train = self.load(data.train, [key["input"], key["output"]])
        dev = self.load(data.dev, [key["input"], key["reference"]])
        test = self.load(data.test, [key["input"]]) if data.test else []
        keys = sorted(key.items())
        skill_list, skills_sig = stages.skills(self, train, [file_digest(data.train), keys])
        labels, labels_sig = stages.labels(self, train, skill_list, skills_sig)
        answered, difficult_sig = stages.difficult(self, dev, [file_digest(data.dev), keys])
        difficult = [r for r in answered if r["difficult"]]
        self.log(f"difficult: {len(difficult)} of {len(answered)} dev questions")
        if data.ledger:
            ledger = self.ledger_rows(data.ledger)
            self.log(f"difficult: {len(ledger)} more from the ledger")
            difficult += ledger
        final = {"run_dir": str(self.root), "skills": len(skill_list.names), "train": len(train), "dev": len(answered)}
        final["difficult"] = len(difficult)
        if difficult:
            missing_inputs = [skills_sig, difficult_sig, file_digest(data.ledger)]
            missed, missing_sig = stages.missing(self, difficult, skill_list, missing_inputs)
            final["profile"] = stages.select(self, train, labels, missed, [labels_sig, missing_sig])["counts"]
            if self.cfg.syn_enable:
                syn_inputs = [labels_sig, missing_sig, file_digest(data.test)]
                final["stat_syn_rows"] = stages.synthesize(self, train, labels, difficult, missed, test, syn_inputs)
        else:
            self.log("no difficult questions: nothing to target")
        parse = {p.name.split(".")[0]: json.loads(p.read_text()) for p in sorted(self.root.glob("*.parse.json"))}
        final.update(counts=dict(self.counts), stage_seconds=self.runner.records.seconds, parse=parse)
        final = self.runner.finish(final)
        from openrlhf_weakness.stat.report import write_stat_report

        write_stat_report(self.root, final)
        outputs = ", stat_sel.jsonl (weights), stat_sel_draw.jsonl, grpo_prompts.jsonl, profile.json, profile.png"
        self.log(f"done: {self.root}/final.json, report.md" + (outputs if difficult else ""))
        return final
