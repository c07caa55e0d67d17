"""The APT loop: for t = 0..T-1, M_t answers the domain data, the assessor finds bad cases, similar cases are
retrieved and answered, pairs are built, ``cli.train_apt`` trains M_{t+1}, and M_{t+1} is evaluated on the domain dev
split and a general-capability guard set. The stages are in :mod:`openrlhf_weakness.apt.stages`; the runner keeps
each artifact under a signature, so rerunning the same command resumes and recomputes only what changed."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from openrlhf_weakness.apt import stages
from openrlhf_weakness.apt.loop_config import APTLoopConfig
from openrlhf_weakness.config import flag
from openrlhf_weakness.data.keys import DataKeys, RowKeys
from openrlhf_weakness.runner import read_json

logger = logging.getLogger(__name__)


class LoopError(ValueError):
    """A loop input is missing or malformed (the message names the file, line and key)."""


@dataclass
class LoopData:
    """The loop's data files."""

    train: str | None = flag(None, "domain data with references (answered every iteration)", required=True)
    pool: str | None = flag(None, "retrieval pool with references", required=True)
    dev: str | None = flag(None, "domain dev split (the stop rule's score)", required=True)
    guard: str | None = flag(None, "general-capability guard set with references")
    test: str | None = flag(None, "held-out domain test split, scored for the report only")
    ledger: str | None = flag(None, "weakness ledger (GRPO's failures) added to the first iteration's bad cases")
    keys: DataKeys = field(default_factory=DataKeys)  # the --data.*_key columns (data/keys.py)


def stop_reason(base: dict, history: list[dict], cfg: APTLoopConfig) -> str | None:
    """Why the loop should stop after the last iteration in ``history`` (None: go on)."""
    last = history[-1]
    if last.get("bad_cases") == 0:
        return "no bad cases left"
    if base.get("guard") is not None and last.get("guard") is not None:
        drop = base["guard"] - last["guard"]
        if drop > cfg.guard_max_drop:
            return f"guard score fell by {drop:.3f} (more than --loop.guard_max_drop {cfg.guard_max_drop})"
    if len(history) >= cfg.patience:
        before = [base["dev"]] + [h["dev"] for h in history[: -cfg.patience]]
        recent = [h["dev"] for h in history[-cfg.patience :]]
        if max(recent) <= max(before) + cfg.min_gain:
            return f"no domain gain for {cfg.patience} iteration(s) (dev {max(recent):.3f} vs best {max(before):.3f})"
    return None


def best_model(base: dict, history: list[dict], cfg: APTLoopConfig) -> dict:
    """The model with the best dev score among those whose guard did not fall beyond the limit."""
    candidates = [base] + history
    allowed = [
        c
        for c in candidates
        if base.get("guard") is None or c.get("guard") is None or base["guard"] - c["guard"] <= cfg.guard_max_drop
    ]
    return max(allowed, key=lambda c: (c["dev"], -c["iteration"]))


class APTLoop:
    """The loop's settings, its scoring session and run directory, and the order its stages run in."""

    def __init__(self, cfg: APTLoopConfig, data: LoopData, gen, assess, retrieve, pairs, judge=None, plan=None):
        """``gen``: the student's generation; ``judge``: the LLM judge's (``--judge.*``), for ``assess.assessor``
        judge: APT as published, an LLM scoring the student's answers against the references. ``plan``: the
        training flags parsed once (default: ``cfg.train_args`` parsed here)."""
        from openrlhf_weakness.assess.scoring import ScoringError, ScoringSession, check_roles, judge_for
        from openrlhf_weakness.runner import StageRunner

        try:
            judge = judge_for(assess, judge)
            check_roles({"--gen": replace(gen, model=gen.model or cfg.model), "--judge": judge})
        except ScoringError as err:
            raise LoopError(str(err)) from None
        if (pairs.chosen != "reference" or pairs.rejected != "greedy") and pairs.samples < 1:
            raise LoopError(
                f"--pairs.chosen {pairs.chosen} / --pairs.rejected {pairs.rejected} choose among the bad "
                "cases' own samples: set --pairs.samples (e.g. 4)"
            )
        if not 0 <= pairs.general_ratio < 1 or (pairs.general_ratio and not pairs.general_data):
            raise LoopError("--pairs.general_ratio must lie in [0, 1) and needs --pairs.general_data")
        self.cfg, self.data, self.gen, self.assess, self.judge = cfg, data, gen, assess, judge
        self.retrieve_cfg, self.pairs_cfg = retrieve, pairs
        self.plan = plan or training_plan(cfg.train_args)
        root = Path(cfg.run_dir)
        if (root / "manifest.json").exists() and not (root / "stages.json").exists() and any(root.glob("iter_*")):
            raise LoopError(
                f"{root} was written by an earlier version (no stages.json), whose artifacts carry no "
                "signatures: use a new --loop.run_dir (nothing there is deleted)"
            )
        config = {
            "loop": asdict(cfg),
            "data": asdict(data),
            "gen": asdict(gen),
            "assess": asdict(assess),
            "retrieve": asdict(retrieve),
            "pairs": asdict(pairs),
            "judge": asdict(judge) if judge else None,
        }
        self.runner = StageRunner(cfg.run_dir, config)
        self.keys = RowKeys(data.keys.input_key, data.keys.reference_key)  # answers go to 'response'
        self.scorer = ScoringSession(gen, assess, judge, self.keys, self.runner.root / "cache", self.runner.seconds)

    @property
    def run(self):
        """The run directory's runner (``root``, ``close()``)."""
        return self.runner

    def log(self, message: str) -> None:
        logger.info("[apt] %s", message)

    def iteration(self, t: int) -> Path:
        return self.runner.root / f"iter_{t}"

    def load(self, path: str, required_reference: bool = True) -> list[dict]:
        from openrlhf_weakness.data.inputs import read_input
        from openrlhf_weakness.io import DataError

        try:
            return read_input(path, [self.keys.input] + ([self.keys.reference] if required_reference else []))
        except DataError as err:
            raise LoopError(str(err)) from None

    def ledger_rows(self, path: str) -> list[dict]:
        """Weakness-ledger failures as bad cases: the question, the label as reference, the failed response."""
        from openrlhf_weakness.data.ledger import ledger_failures
        from openrlhf_weakness.io import DataError

        try:
            failures = ledger_failures(path)
        except DataError as err:
            raise LoopError(f"ledger: {err}") from None
        return [
            {
                self.keys.input: f["question"],
                self.keys.reference: f["label"],
                "response": f["response"],
                "score": f["score"],
                "bad": True,
                self.data.keys.datasource_key: f["datasource"],
                "from_ledger": True,
            }
            for f in failures
        ]

    def eval_texts(self) -> list[str]:
        """The dev, guard and test questions: retrieval never takes a pool row that overlaps them."""
        from openrlhf_weakness.backends.base import message_text

        splits = [getattr(self.data, split) for split in stages.SPLITS if getattr(self.data, split)]
        return [message_text(row[self.keys.input]) for path in splits for row in self.load(path)]

    def evaluate(self, model: str, name: str, folder: Path, model_sig: str | None = None) -> dict:
        return stages.evaluate(self, model, name, folder, model_sig)

    def run_loop(self) -> dict:
        from openrlhf_weakness.io.stages import file_digest

        cfg, data = self.cfg, self.data
        train_rows, train_sig = self.load(data.train), file_digest(data.train)
        if not os.path.isfile(data.pool):
            raise LoopError(f"pool file {data.pool} not found")
        base = {
            "iteration": 0,
            "model": cfg.model,
            **_summary(self.evaluate(cfg.model, "M_0", self.runner.root / "base")),
        }
        self.log(f"M_0: {_scores_line(base)}")
        history, model, model_sig, reason = [], cfg.model, cfg.model, None
        for t in range(cfg.iterations):
            it = self.iteration(t)
            scored, scored_sig = stages.score(self, it, "scored", model, model_sig, train_rows, train_sig)
            bad, bad_sig = stages.mine(self, it, scored, scored_sig, t)
            if not bad:
                reason = "no bad cases left"
                break
            similar, similar_sig = stages.retrieve(self, it, bad, bad_sig, model, model_sig)
            similar_scored, similar_scored_sig = [], None
            if similar:
                similar_scored, similar_scored_sig = stages.score(
                    self, it, "similar_scored", model, model_sig, similar, similar_sig
                )
            if self.pairs_cfg.samples:  # the bad cases' own samples, for --pairs.chosen / --pairs.rejected
                bad, bad_sig = stages.sample(self, it, bad, bad_sig, model, model_sig)
            pairs, pairs_sig = stages.pairs(self, it, bad, similar_scored, t, [bad_sig, similar_scored_sig])
            ref, ref_sig = (model, model_sig) if cfg.ref_policy == "previous" else (cfg.model, cfg.model)
            new_model, new_sig = stages.train(self, it, model, ref, pairs, [model_sig, ref_sig, pairs_sig])
            summary_path = Path(new_model) / "apt_summary.json"
            entry = {
                "iteration": t + 1,
                "model": new_model,
                "bad_cases": len(bad),
                "bad_rate": len(bad) / len(scored),
                "pairs": sum(1 for _ in open(pairs)),
                "train": _train_summary(read_json(summary_path) if summary_path.exists() else {}),
                **_summary(self.evaluate(new_model, f"M_{t + 1}", it, new_sig)),
            }
            history.append(entry)
            self.log(f"M_{t + 1}: {_scores_line(entry)}")
            model, model_sig = new_model, new_sig
            reason = stop_reason(base, history, cfg)
            if reason:
                break
        best = best_model(base, history, cfg)
        final = self.runner.finish(
            {
                "stopped": reason or f"finished {cfg.iterations} iteration(s)",
                "best": best,
                "base": base,
                "history": history,
                "stage_seconds": self.runner.seconds,
            }
        )
        from openrlhf_weakness.apt.report import write_report

        write_report(self.runner.root, final)
        self.log(f"stopped: {final['stopped']}; best model: M_{best['iteration']} ({best['model']})")
        return final

    @property
    def stage_seconds(self) -> dict:
        return self.runner.seconds


def training_plan(train_args: list[str]):
    """``cli.train_apt``'s flags parsed once, refusing those the loop sets itself."""
    from openrlhf_weakness.apt.loop_config import LOOP_SETS_TRAINING
    from openrlhf_weakness.training import TrainingPlan, TrainingPlanError

    try:
        return TrainingPlan.parse(
            "openrlhf_weakness.cli.train_apt",
            train_args,
            LOOP_SETS_TRAINING,
            "after -- are set by the loop itself (--loop.model, the pairs, the run directory, "
            "--gen.chat_template_enable)",
        )
    except TrainingPlanError as err:
        raise LoopError(str(err)) from None


def _scores_line(entry: dict) -> str:
    return f"dev {entry['dev']:.3f}" + (f", guard {entry['guard']:.3f}" if entry.get("guard") is not None else "")


def _summary(ev: dict) -> dict:
    out = {"dev": ev["dev"]["score"], "dev_by_datasource": ev["dev"]["by_datasource"]}
    for split in ("guard", "test"):
        if split in ev:
            out[split] = ev[split]["score"]
    return out


def _train_summary(summary: dict) -> dict:
    first, last = summary.get("first") or {}, summary.get("last") or {}
    return {
        k: {"first": first.get(k), "last": last.get(k)}
        for k in ("chosen_logp", "rejected_logp", "margin", "loss", "sft_loss")
    }
