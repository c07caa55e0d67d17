"""The APT loop: for t = 0..T-1, M_t answers the domain data, the assessor finds bad cases, similar cases are
retrieved and answered, pairs are built, ``cli.train_apt`` trains M_{t+1}, and M_{t+1} is evaluated on the domain dev
split and a general-capability guard set. Every stage reads and writes JSON Lines in the run directory and is skipped
when its artifact exists, so rerunning the same command resumes."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from openrlhf_weakness.apt.loop_config import APTLoopConfig
from openrlhf_weakness.apt.run_dir import RunDir, read_json, write_json
from openrlhf_weakness.backends.hf import PromptTooLong
from openrlhf_weakness.config import flag

logger = logging.getLogger(__name__)


class SourcedRows(list):
    """Rows read from a file, with the file and each row's line, so a later stage can name where a bad row is."""

    def __init__(self, rows: list[dict], path: str, lines: list[int]):
        super().__init__(rows)
        self.path, self.lines = path, lines


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
    input_key: str = flag("prompt", "key of the question")
    reference_key: str = flag("reference", "key of the reference answer")
    datasource_key: str = flag("datasource", "key of the category (per-category scores)")


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
    """Each stage's artifact is kept under a signature of the settings it reads and of its inputs (files' digests,
    earlier stages' signatures): a rerun reuses what still holds and recomputes a changed stage and all after it."""

    def __init__(self, cfg: APTLoopConfig, data: LoopData, gen, assess, retrieve, pairs, judge=None):
        """``gen``: the student's generation; ``judge``: the LLM judge's (``--judge.*``), for ``assess.assessor``
        judge: APT as published, an LLM scoring the student's answers against the references."""
        from openrlhf_weakness.io.stages import StageRecords

        if assess.assessor == "judge" and (judge is None or not judge.model):
            raise LoopError(
                "--assess.assessor judge needs a judge model: --judge.model (and --judge.backend, "
                "--judge.base_url for a server); the --gen.* flags are the student's"
            )
        self.cfg, self.data, self.gen, self.assess, self.retrieve_cfg, self.pairs_cfg = (
            cfg,
            data,
            gen,
            assess,
            retrieve,
            pairs,
        )
        self.judge = judge if assess.assessor == "judge" else None
        from openrlhf_weakness.backends.openai_compat import OpenAIClientError, check_servers

        try:  # a server that is down stops the run here, before any student work
            check_servers({"--gen": replace(gen, model=gen.model or cfg.model), "--judge": self.judge})
        except OpenAIClientError as err:
            raise LoopError(str(err)) from None
        if (pairs.chosen != "reference" or pairs.rejected != "greedy") and pairs.samples < 1:
            raise LoopError(
                f"--pairs.chosen {pairs.chosen} / --pairs.rejected {pairs.rejected} choose among the bad "
                "cases' own samples: set --pairs.samples (e.g. 4)"
            )
        config = {
            "loop": asdict(cfg),
            "data": asdict(data),
            "gen": asdict(gen),
            "assess": asdict(assess),
            "retrieve": asdict(retrieve),
            "pairs": asdict(pairs),
            "judge": asdict(self.judge) if self.judge else None,
        }
        root = Path(cfg.run_dir)
        if (root / "manifest.json").exists() and not (root / "stages.json").exists() and any(root.glob("iter_*")):
            raise LoopError(
                f"{root} was written by an earlier version (no stages.json), whose artifacts carry no "
                "signatures: use a new --loop.run_dir (nothing there is deleted)"
            )
        self.run = RunDir(cfg.run_dir, config)
        self.records = StageRecords(self.run.root)
        self._backend_model, self._backend = None, None
        self._assessor = None
        self.stage_seconds: dict[str, float] = {}

    # ---- shared pieces -------------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        logger.info("[apt] %s", message)

    def _timed(self, name: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - start

    def _stage_key(self, folder: Path, name: str) -> str:
        """``iter_0/pairs`` for a stage in the run directory; a folder elsewhere (a demo's baselines) by its path."""
        folder = Path(folder)
        inside = folder.resolve().is_relative_to(self.run.root.resolve())
        return f"{folder.resolve().relative_to(self.run.root.resolve()) if inside else folder}/{name}"

    def _stage(self, folder: Path, name: str, settings: dict, inputs: list, artifacts: list[str]):
        """(signature, reusable) of ``folder/name``; its stale artifacts are gone when it is not reusable."""
        return self.records.begin(self._stage_key(folder, name), settings, inputs, [folder / a for a in artifacts])

    def _done(self, folder: Path, name: str, sig: str, settings: dict) -> None:
        self.records.done(self._stage_key(folder, name), sig, settings)

    def student_settings(self, max_new_tokens: int = 0) -> dict:
        """What decides the student's answers besides the model itself (a stage's input)."""
        from openrlhf_weakness.backends.config import model_settings

        settings = model_settings(replace(self.gen, model=None))
        if max_new_tokens:
            settings["max_new_tokens"] = max_new_tokens
        judge = model_settings(self.judge) if self.judge else None
        return {
            "student": settings,
            "assess": asdict(self.assess),
            "judge": judge,
            "keys": [self.data.input_key, self.data.reference_key],
        }

    def backend(self, model: str):
        if self._backend_model != model:
            from openrlhf_weakness.backends.driver import make_backend

            self._backend = None  # free the previous model first
            self._backend = self._timed("load_model", lambda: make_backend(replace(self.gen, model=model)))
            self._backend_model = model
        return self._backend

    def assessor(self):
        if self._assessor is None:
            from openrlhf_weakness.assess.config import make_assessor

            judge = self.judge
            if judge is not None and not judge.cache_dir and not judge.no_cache_enable:
                judge = replace(judge, cache_dir=str(self.run.root / "cache"))  # a rerun does not ask the judge again
            self._assessor = make_assessor(self.assess, judge)
        return self._assessor

    def load(self, path: str, required_reference: bool = True) -> list[dict]:
        from openrlhf_weakness.io import DataError, load_rows

        keys = [self.data.input_key] + ([self.data.reference_key] if required_reference else [])
        try:
            numbered = load_rows(path, keys)[0]
            rows = SourcedRows([row for _, row in numbered], path, [line for line, _ in numbered])
        except FileNotFoundError:
            raise LoopError(f"{path}: no such file")
        except DataError as err:
            raise LoopError(str(err))
        if not rows:
            raise LoopError(f"{path}: no rows")
        return rows

    def answer_and_assess(
        self, model: str, rows: list[dict], out: Path, desc: str, max_new_tokens: int = 0, params=None, samples=False
    ) -> list[dict]:
        """Rows plus the model's ``response``, ``score``, ``feedback``, ``bad`` (with ``samples`` also every
        answer's ``responses``/``scores``), written to ``out``."""
        from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.io import write_jsonl

        params = params or SamplingParams.from_config(self.gen)
        if max_new_tokens:
            params = replace(params, max_new_tokens=max_new_tokens)
        cache = open_cache(self.gen, self.run.root / "cache")
        backend = self.backend(model)  # loading is timed on its own, not as generation
        keys = RowKeys(self.data.input_key, self.data.reference_key)
        try:
            scored, seconds = answer_and_assess(
                backend, self.assessor(), rows, params, keys, self.assess.bad_below, cache, desc, samples=samples
            )
        except PromptTooLong as err:
            where = f"{rows.path}:{rows.lines[err.index]}" if isinstance(rows, SourcedRows) else f"row {err.index + 1}"
            raise LoopError(
                f"{where}: field {self.data.input_key!r}: {err.tokens} tokens, more than the {err.limit} "
                f"the model takes beside --gen.max_new_tokens {params.max_new_tokens}"
            ) from None
        finally:
            if cache is not None:
                cache.close()
        for stage in ("generate", "assess"):
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds[stage]
        self._timed("write", lambda: write_jsonl(out, scored))
        return scored

    def ledger_rows(self, path: str) -> list[dict]:
        """Weakness-ledger failures as bad cases: prompt, the label as reference, the failed response."""
        from openrlhf_weakness.io import DataError, load_rows

        try:
            rows = [row for _, row in load_rows(path, ["prompt", "response", "label"])[0]]
        except (FileNotFoundError, DataError) as err:
            raise LoopError(f"ledger: {err}")
        out = []
        for row in rows:
            out.append(
                {
                    self.data.input_key: row.get("input") or row["prompt"],
                    self.data.reference_key: row["label"],
                    "response": row["response"],
                    "score": row.get("score"),
                    "bad": True,
                    self.data.datasource_key: row.get("datasource"),
                    "from_ledger": True,
                }
            )
        return out

    def split_score(self, scored: list[dict]) -> dict:
        """Mean normalised score (score - 1) / 4 (accuracy for right/wrong assessors), overall and per datasource."""

        def mean(rows):
            vals = [(r["score"] - 1) / 4 for r in rows if r["score"] is not None]
            return sum(vals) / len(vals) if vals else 0.0

        groups: dict[str, list] = {}
        for r in scored:
            groups.setdefault(str(r.get(self.data.datasource_key) or ""), []).append(r)
        return {
            "score": mean(scored),
            "n": len(scored),
            "by_datasource": {k: mean(v) for k, v in sorted(groups.items())},
        }

    def evaluate(self, model: str, name: str, folder: Path, model_sig: str | None = None) -> dict:
        """Dev (and guard, test when given) scores of ``model`` (identified by ``model_sig``, default its path),
        kept in ``folder/eval.json`` under the stage's signature."""
        from openrlhf_weakness.io.stages import file_digest

        splits = [split for split in ("dev", "guard", "test") if getattr(self.data, split)]
        settings = self.student_settings(self.cfg.eval_max_new_tokens)
        inputs = [model_sig or model] + [file_digest(getattr(self.data, split)) for split in splits]
        artifacts = ["eval.json"] + [f"eval_{split}.jsonl" for split in splits]
        sig, reuse = self._stage(folder, "eval", settings, inputs, artifacts)
        if reuse:
            return read_json(folder / "eval.json")
        result = {}
        for split in splits:
            rows, out = self.load(getattr(self.data, split)), folder / f"eval_{split}.jsonl"
            scored = self.answer_and_assess(model, rows, out, f"eval {split} ({name})", self.cfg.eval_max_new_tokens)
            result[split] = self.split_score(scored)
        write_json(folder / "eval.json", result)
        self._done(folder, "eval", sig, settings)
        return result

    # ---- one iteration ---------------------------------------------------------------------------------------
    def eval_texts(self) -> list[str]:
        """The dev, guard and test questions: retrieval never takes a pool row that overlaps them."""
        from openrlhf_weakness.backends.base import message_text

        return [
            message_text(row[self.data.input_key])
            for split in ("dev", "guard", "test")
            if getattr(self.data, split)
            for row in self.load(getattr(self.data, split))
        ]

    def score(self, it: Path, name: str, model: str, model_sig: str, rows: list[dict], rows_sig: str):
        """``rows`` answered by ``model`` and assessed, in ``it/<name>.jsonl``; (rows, signature)."""
        settings = self.student_settings()
        sig, reuse = self._stage(it, name, settings, [model_sig, rows_sig], [f"{name}.jsonl"])
        if reuse:
            return [json.loads(line) for line in open(it / f"{name}.jsonl")], sig
        scored = self.answer_and_assess(model, rows, it / f"{name}.jsonl", f"{it.name}: answer {name}")
        self._done(it, name, sig, settings)
        return scored, sig

    def mine(self, it: Path, scored: list[dict], scored_sig: str, iteration: int):
        """The bad cases (plus, in the first iteration, the ledger's failures) in ``it/bad.jsonl``; (rows, sig)."""
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.io.stages import file_digest

        ledger = self.data.ledger if iteration == 0 else None
        settings = {"bad_below": self.assess.bad_below, "ledger": ledger}
        sig, reuse = self._stage(it, "bad", settings, [scored_sig, file_digest(ledger)], ["bad.jsonl"])
        if reuse:
            return [json.loads(line) for line in open(it / "bad.jsonl")], sig
        bad = [r for r in scored if r["bad"]]
        self.log(f"{it.name}: {len(bad)} bad cases of {len(scored)}")
        if ledger:  # failures seen elsewhere (GRPO's reward hook) join the first round
            from_ledger = self.ledger_rows(ledger)
            self.log(f"{it.name}: {len(from_ledger)} bad cases from the ledger {ledger}")
            bad += from_ledger
        write_jsonl(it / "bad.jsonl", bad)
        self._done(it, "bad", sig, settings)
        return bad, sig

    def sample(self, it: Path, bad: list[dict], bad_sig: str, model: str, model_sig: str):
        """The bad cases answered again ``--pairs.samples`` times at ``--pairs.sample_temperature`` and assessed (for
        a self-correct chosen or a sampled rejected), kept beside their greedy answer in ``it/samples.jsonl``."""
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.io import write_jsonl

        n, temperature = self.pairs_cfg.samples, self.pairs_cfg.sample_temperature
        settings = {**self.student_settings(), "samples": n, "temperature": temperature}
        sig, reuse = self._stage(it, "samples", settings, [model_sig, bad_sig], ["samples.jsonl"])
        if reuse:
            return [json.loads(line) for line in open(it / "samples.jsonl")], sig
        params = replace(SamplingParams.from_config(self.gen), n=n, temperature=temperature)
        scored = self.answer_and_assess(
            model, bad, it / "samples.raw.jsonl", f"{it.name}: sample bad cases", params=params, samples=True
        )
        rows = [dict(b, responses=s["responses"], scores=s["scores"]) for b, s in zip(bad, scored)]
        right = sum(any(x is not None and x >= self.assess.bad_below for x in r["scores"]) for r in rows)
        self.log(f"{it.name}: {right} of {len(rows)} bad cases have a right answer among {n} samples")
        write_jsonl(it / "samples.jsonl", rows)
        (it / "samples.raw.jsonl").unlink(missing_ok=True)
        self._done(it, "samples", sig, settings)
        return rows, sig

    def retrieve(self, it: Path, bad: list[dict], bad_sig: str, model: str, model_sig: str):
        """Pool cases similar to the bad cases, decontaminated against dev/guard/test; (rows, signature)."""
        from openrlhf_weakness.backends.config import model_settings
        from openrlhf_weakness.io import write_jsonl
        from openrlhf_weakness.io.stages import file_digest

        tagger = replace(self.gen, model=model, cache_dir=self.gen.cache_dir or str(self.run.root / "cache"))
        llm = self.retrieve_cfg.tagger == "llm"
        tagger_settings = model_settings(replace(tagger, model=None)) if llm else None
        settings = {"retrieve": asdict(self.retrieve_cfg), "key": self.data.input_key, "tagger": tagger_settings}
        evals = [file_digest(getattr(self.data, split)) for split in ("dev", "guard", "test")]
        inputs = [bad_sig, file_digest(self.data.pool), evals, model_sig if llm else None]
        sig, reuse = self._stage(it, "similar", settings, inputs, ["similar.jsonl", "similar.jsonl.summary.json"])
        if reuse:
            return [json.loads(line) for line in open(it / "similar.jsonl")], sig
        from openrlhf_weakness.retrieve.stage import RetrieveError, RetrieveInputs, retrieve_similar

        inputs = RetrieveInputs(
            bad, self.data.pool, self.data.input_key, eval_texts=self.eval_texts(), source=str(it / "bad.jsonl")
        )
        try:
            rows, summary = self._timed("retrieve", lambda: retrieve_similar(inputs, self.retrieve_cfg, tagger))
        except RetrieveError as err:
            raise LoopError(f"retrieve: {err}")
        write_json(it / "similar.jsonl.summary.json", summary)
        write_jsonl(it / "similar.jsonl", rows)
        self.log(f"retrieved {len(rows)} similar cases (decontaminated against dev/guard/test)")
        self._done(it, "similar", sig, settings)
        return rows, sig

    def pairs(self, it: Path, bad: list[dict], similar_scored: list[dict], iteration: int, inputs: list):
        """Preference (and SFT-only) rows in ``it/pairs.jsonl``; ``inputs``: the bad and scored-similar signatures.
        Returns (path, signature)."""
        from openrlhf_weakness.apt.pairs import build_pairs
        from openrlhf_weakness.io import write_jsonl

        cfg, bad_below = self.pairs_cfg, self.assess.bad_below
        # the same settings as when bad_below and iteration were PairsConfig fields: today's run directories reuse
        pairs_settings = {**asdict(cfg), "bad_below": bad_below, "iteration": iteration}
        chat = self.gen.chat_template_enable
        settings = {"pairs": pairs_settings, "chat": chat}
        sig, reuse = self._stage(it, "pairs", settings, inputs, ["pairs.jsonl"])
        if not reuse:
            keys = {
                "prompt": self.data.input_key,
                "reference": self.data.reference_key,
                "response": "response",
                "score": "score",
            }
            rows, counts = self._timed(
                "pairs",
                lambda: build_pairs(bad, similar_scored, cfg, keys, chat, bad_below=bad_below, iteration=iteration),
            )
            write_jsonl(it / "pairs.jsonl", rows)
            self.log(f"pairs: {len(rows)} rows ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")
            self._done(it, "pairs", sig, settings)
        return it / "pairs.jsonl", sig

    def train(self, it: Path, model: str, ref: str, pairs: Path, inputs: list) -> tuple[str, str]:
        """M_{t+1} in ``it/model``; ``inputs``: the signatures of the model, the reference model and the pairs.
        Returns (path, signature); the signature identifies the new model to every later stage."""
        out, tmp = it / "model", it / "model.tmp"
        settings = {"train_args": self.cfg.train_args, "chat": self.gen.chat_template_enable}
        sig, reuse = self._stage(it, "model", settings, inputs, ["model", "train_args.json"])
        if reuse:
            return str(out), sig
        RunDir.clear_partial(tmp)  # an interrupted training restarts from scratch
        n_pairs = sum(1 for _ in open(pairs))
        extra = list(self.cfg.train_args)
        batch = _flag_value(extra, "--train.batch_size", 128)
        micro = _flag_value(extra, "--train.micro_batch_size", 8)
        if n_pairs < batch:  # a small round: one optimizer step over what there is
            micro = min(micro, n_pairs)
            extra += [
                "--train.batch_size",
                str(max(micro, n_pairs // micro * micro)),
                "--train.micro_batch_size",
                str(micro),
            ]
        import torch

        launcher = self.cfg.launcher_enable or bool(self.cfg.hostfile) or torch.cuda.is_available()
        if "--ds.attn_implementation" not in extra:
            from openrlhf_weakness.patches import default_attn_implementation

            extra += ["--ds.attn_implementation", default_attn_implementation()]
        if self.gen.chat_template_enable:
            extra.append("--data.apply_chat_template")
        args = [
            "--model.model_name_or_path",
            model,
            "--ref.model_name_or_path",
            ref,
            "--data.dataset",
            str(pairs),
            "--data.prompt_key",
            "prompt",
            "--apt.weight_key",
            "weight",
            "--ckpt.output_dir",
            str(tmp),
        ]
        args += extra
        from openrlhf_weakness.launch import run_training

        write_json(it / "train_args.json", {"module": "openrlhf_weakness.cli.train_apt", "args": args})
        self.log(f"training on {n_pairs} rows -> {out}")
        fds, hostfile = (self.run.lock_fd,), self.cfg.hostfile
        self._timed(
            "train",
            lambda: run_training(
                "openrlhf_weakness.cli.train_apt", args, it / "train.log", launcher, keep_fds=fds, hostfile=hostfile
            ),
        )
        os.replace(tmp, out)
        self._done(it, "model", sig, settings)
        return str(out), sig

    def run_loop(self) -> dict:
        from openrlhf_weakness.io.stages import file_digest

        cfg, data = self.cfg, self.data
        train_rows, train_sig = self.load(data.train), file_digest(data.train)
        if not os.path.isfile(data.pool):
            raise LoopError(f"pool file {data.pool} not found")
        base_dir = self.run.root / "base"
        base_dir.mkdir(exist_ok=True)
        base_eval = self.evaluate(cfg.model, "M_0", base_dir)
        base = {"iteration": 0, "model": cfg.model, **_summary(base_eval)}
        self.log(
            f"M_0: dev {base['dev']:.3f}" + (f", guard {base['guard']:.3f}" if base.get("guard") is not None else "")
        )
        history, model, model_sig, reason = [], cfg.model, cfg.model, None
        for t in range(cfg.iterations):
            it = self.run.iteration(t)
            scored, scored_sig = self.score(it, "scored", model, model_sig, train_rows, train_sig)
            bad, bad_sig = self.mine(it, scored, scored_sig, t)
            if not bad:
                reason = "no bad cases left"
                break
            similar, similar_sig = self.retrieve(it, bad, bad_sig, model, model_sig)
            similar_scored, similar_scored_sig = [], None
            if similar:
                similar_scored, similar_scored_sig = self.score(
                    it, "similar_scored", model, model_sig, similar, similar_sig
                )
            if self.pairs_cfg.samples:  # the bad cases' own samples, for --pairs.chosen / --pairs.rejected
                bad, bad_sig = self.sample(it, bad, bad_sig, model, model_sig)
            pairs, pairs_sig = self.pairs(it, bad, similar_scored, t, [bad_sig, similar_scored_sig])
            ref, ref_sig = (model, model_sig) if cfg.ref_policy == "previous" else (cfg.model, cfg.model)
            new_model, new_sig = self.train(it, model, ref, pairs, [model_sig, ref_sig, pairs_sig])
            ev = self.evaluate(new_model, f"M_{t + 1}", it, new_sig)
            summary = (
                read_json(Path(new_model) / "apt_summary.json")
                if (Path(new_model) / "apt_summary.json").exists()
                else {}
            )
            entry = {
                "iteration": t + 1,
                "model": new_model,
                "bad_cases": len(bad),
                "bad_rate": len(bad) / len(scored),
                "pairs": sum(1 for _ in open(pairs)),
                "train": _train_summary(summary),
            }
            entry.update(_summary(ev))
            history.append(entry)
            self.log(
                f"M_{t + 1}: dev {entry['dev']:.3f}"
                + (f", guard {entry['guard']:.3f}" if entry.get("guard") is not None else "")
            )
            model, model_sig = new_model, new_sig
            reason = stop_reason(base, history, cfg)
            if reason:
                break
        best = best_model(base, history, cfg)
        final = {
            "stopped": reason or f"finished {cfg.iterations} iteration(s)",
            "best": best,
            "base": base,
            "history": history,
            "stage_seconds": self.stage_seconds,
            "stages": self.records.decisions,
        }
        write_json(self.run.root / "final.json", final)
        self.run.record_stages(self.records.decisions)
        from openrlhf_weakness.apt.report import write_report

        write_report(self.run.root, final)
        recomputed = [d for d in self.records.decisions if d["action"] == "computed"]
        self.log(f"stages: {len(self.records.decisions) - len(recomputed)} reused, {len(recomputed)} computed")
        self.log(f"stopped: {final['stopped']}; best model: M_{best['iteration']} ({best['model']})")
        return final


def _flag_value(args: list[str], name: str, default: int) -> int:
    value = default
    for i, a in enumerate(args[:-1]):
        if a == name:
            value = int(args[i + 1])
    return value


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
