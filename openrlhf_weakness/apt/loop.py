"""The APT loop: for t = 0..T-1, M_t answers the domain data, the assessor finds bad cases, similar cases are
retrieved and answered, pairs are built, ``cli.train_apt`` trains M_{t+1}, and M_{t+1} is evaluated on the domain dev
split and a general-capability guard set. Every stage reads and writes JSON Lines in the run directory and is skipped
when its artifact exists, so rerunning the same command resumes."""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from openrlhf_weakness.apt.loop_config import APTLoopConfig
from openrlhf_weakness.apt.run_dir import RunDir, read_json, write_json


@dataclass
class LoopData:
    train: str
    pool: str
    dev: str
    guard: str | None = None
    test: str | None = None
    ledger: str | None = None
    input_key: str = "prompt"
    reference_key: str = "reference"
    datasource_key: str = "datasource"


def stop_reason(base: dict, history: list[dict], cfg: APTLoopConfig) -> str | None:
    """Why the loop should stop after the last iteration in ``history`` (None: go on)."""
    last = history[-1]
    if last.get("bad_cases") == 0:
        return "no bad cases left"
    if base.get("guard") is not None and last.get("guard") is not None:
        drop = base["guard"] - last["guard"]
        if drop > cfg.guard_max_drop:
            return f"guard score fell by {drop:.3f} (more than --apt.guard_max_drop {cfg.guard_max_drop})"
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
        c for c in candidates
        if base.get("guard") is None or c.get("guard") is None or base["guard"] - c["guard"] <= cfg.guard_max_drop
    ]  # fmt: skip
    return max(allowed, key=lambda c: (c["dev"], -c["iteration"]))


class APTLoop:
    def __init__(self, cfg: APTLoopConfig, data: LoopData, gen, assess, retrieve, pairs):
        self.cfg, self.data, self.gen, self.assess, self.retrieve_cfg, self.pairs_cfg = (
            cfg, data, gen, assess, retrieve, pairs,
        )  # fmt: skip
        config = {"apt": asdict(cfg), "data": asdict(data), "gen": asdict(gen), "assess": asdict(assess),
                  "retrieve": asdict(retrieve), "pairs": asdict(pairs)}  # fmt: skip
        self.run = RunDir(cfg.run_dir, config, cfg.resume_force_enable)
        self._backend_model, self._backend = None, None
        self._assessor = None
        self.stage_seconds: dict[str, float] = {}

    # ---- shared pieces -------------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        print(f"[apt] {message}", flush=True)

    def _timed(self, name: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - start

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

            self._assessor = make_assessor(self.assess, self.gen)
        return self._assessor

    def load(self, path: str, required_reference: bool = True) -> list[dict]:
        from openrlhf_weakness.io import DataError, load_rows

        keys = [self.data.input_key] + ([self.data.reference_key] if required_reference else [])
        try:
            rows = [row for _, row in load_rows(path, keys)[0]]
        except FileNotFoundError:
            raise SystemExit(f"apt: {path}: no such file")
        except DataError as err:
            raise SystemExit(f"apt: {err}")
        if not rows:
            raise SystemExit(f"apt: {path}: no rows")
        return rows

    def answer_and_assess(
        self, model: str, rows: list[dict], out: Path, desc: str, max_new_tokens: int = 0
    ) -> list[dict]:
        """Rows plus the model's ``response``, ``score``, ``feedback``, ``bad``; cached in ``out``."""
        if out.exists():
            return [json.loads(line) for line in open(out)]
        from openrlhf_weakness.assess.answer import RowKeys, answer_and_assess
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.io import write_jsonl

        params = SamplingParams.from_config(self.gen)
        if max_new_tokens:
            params = replace(params, max_new_tokens=max_new_tokens)
        cache = open_cache(self.gen, self.run.root / "cache")
        backend = self.backend(model)  # loading is timed on its own, not as generation
        keys = RowKeys(self.data.input_key, self.data.reference_key)
        try:
            scored, seconds = answer_and_assess(backend, self.assessor(), rows, params, keys, self.assess.bad_below,
                                                cache, desc, samples=False)  # fmt: skip
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
            raise SystemExit(f"apt: ledger: {err}")
        out = []
        for row in rows:
            out.append({self.data.input_key: row["prompt"], self.data.reference_key: row["label"],
                        "response": row["response"], "score": row.get("score"), "bad": True,
                        self.data.datasource_key: row.get("datasource"), "from_ledger": True})  # fmt: skip
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

    def evaluate(self, model: str, name: str, folder: Path) -> dict:
        """Dev (and guard, test when given) scores of ``model``, cached in ``folder/eval.json``."""
        path = folder / "eval.json"
        if path.exists():
            return read_json(path)
        result = {}
        for split in ("dev", "guard", "test"):
            file = getattr(self.data, split)
            if file:
                rows = self.load(file)
                scored = self.answer_and_assess(model, rows, folder / f"eval_{split}.jsonl", f"eval {split} ({name})",
                                                self.cfg.eval_max_new_tokens)  # fmt: skip
                result[split] = self.split_score(scored)
        write_json(path, result)
        return result

    # ---- one iteration ---------------------------------------------------------------------------------------
    def eval_texts(self) -> list[str]:
        """The dev, guard and test questions: retrieval never takes a pool row that overlaps them."""
        from openrlhf_weakness.backends.base import message_text

        return [message_text(row[self.data.input_key]) for split in ("dev", "guard", "test")
                if getattr(self.data, split) for row in self.load(getattr(self.data, split))]  # fmt: skip

    def retrieve(self, it: Path, bad: list[dict], model: str) -> Path:
        out = it / "similar.jsonl"
        if not out.exists():
            from openrlhf_weakness.io import write_jsonl
            from openrlhf_weakness.retrieve.stage import RetrieveError, RetrieveInputs, retrieve_similar

            inputs = RetrieveInputs(bad, self.data.pool, self.data.input_key, eval_texts=self.eval_texts(),
                                    source=str(it / "bad.jsonl"))  # fmt: skip
            tagger = replace(self.gen, model=model, cache_dir=self.gen.cache_dir or str(self.run.root / "cache"))
            try:
                rows, summary = self._timed("retrieve", lambda: retrieve_similar(inputs, self.retrieve_cfg, tagger))
            except RetrieveError as err:
                raise SystemExit(f"apt: retrieve: {err}")
            write_json(f"{out}.summary.json", summary)
            write_jsonl(out, rows)
            self.log(f"retrieved {len(rows)} similar cases (decontaminated against dev/guard/test)")
        return out

    def pairs(self, it: Path, bad: list[dict], similar_scored: list[dict], iteration: int) -> Path:
        out = it / "pairs.jsonl"
        if not out.exists():
            from openrlhf_weakness.apt.pairs import build_pairs
            from openrlhf_weakness.io import write_jsonl

            cfg = replace(self.pairs_cfg, iteration=iteration, bad_below=self.assess.bad_below)
            keys = {"prompt": self.data.input_key, "reference": self.data.reference_key, "response": "response",
                    "score": "score"}  # fmt: skip
            rows, counts = self._timed(
                "pairs", lambda: build_pairs(bad, similar_scored, cfg, keys, self.gen.chat_template_enable)
            )
            write_jsonl(out, rows)
            self.log(f"pairs: {len(rows)} rows ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")
        return out

    def train(self, it: Path, model: str, ref: str, pairs: Path) -> str:
        out, tmp = it / "model", it / "model.tmp"
        if out.exists():
            return str(out)
        RunDir.clear_partial(tmp)  # an interrupted training restarts from scratch
        n_pairs = sum(1 for _ in open(pairs))
        extra = shlex.split(self.cfg.train_args)
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

        launcher = self.cfg.launcher_enable or torch.cuda.is_available()
        if not torch.cuda.is_available() and "--ds.attn_implementation" not in extra:
            extra += ["--ds.attn_implementation", "eager"]
        if self.gen.chat_template_enable:
            extra.append("--data.apply_chat_template")
        args = ["--model.model_name_or_path", model, "--ref.model_name_or_path", ref, "--data.dataset", str(pairs),
                "--data.prompt_key", "prompt", "--apt.weight_key", "weight", "--ckpt.output_dir", str(tmp), *extra]  # fmt: skip
        from openrlhf_weakness.launch import run_training

        write_json(it / "train_args.json", {"module": "openrlhf_weakness.cli.train_apt", "args": args})
        self.log(f"training on {n_pairs} rows -> {out}")
        self._timed("train", lambda: run_training("openrlhf_weakness.cli.train_apt", args, it / "train.log", launcher,
                                                  keep_fds=(self.run.lock_fd,)))  # fmt: skip
        os.replace(tmp, out)
        return str(out)

    def run_loop(self) -> dict:
        cfg, data = self.cfg, self.data
        train_rows = self.load(data.train)
        if not os.path.isfile(data.pool):
            raise SystemExit(f"apt: pool file {data.pool} not found")
        base_dir = self.run.root / "base"
        base_dir.mkdir(exist_ok=True)
        base_eval = self.evaluate(cfg.model, "M_0", base_dir)
        base = {"iteration": 0, "model": cfg.model, **_summary(base_eval)}
        self.log(
            f"M_0: dev {base['dev']:.3f}" + (f", guard {base['guard']:.3f}" if base.get("guard") is not None else "")
        )
        history, model, reason = [], cfg.model, None
        for t in range(cfg.iterations):
            it = self.run.iteration(t)
            scored = self.answer_and_assess(model, train_rows, it / "scored.jsonl", f"iter {t}: answer train")
            bad = [r for r in scored if r["bad"]]
            self.log(f"iteration {t}: {len(bad)} bad cases of {len(scored)}")
            if t == 0 and data.ledger:  # failures seen elsewhere (GRPO's reward hook) join the first round
                ledger = self.ledger_rows(data.ledger)
                self.log(f"iteration 0: {len(ledger)} bad cases from the ledger {data.ledger}")
                bad += ledger
            if bad and not (it / "bad.jsonl").exists():
                from openrlhf_weakness.io import write_jsonl

                write_jsonl(it / "bad.jsonl", bad)
            if not bad:
                reason = "no bad cases left"
                break
            similar = [json.loads(line) for line in open(self.retrieve(it, bad, model))]
            similar_scored = []
            if similar:
                similar_scored = self.answer_and_assess(model, similar, it / "similar_scored.jsonl",
                                                        f"iter {t}: answer similar")  # fmt: skip
            pairs = self.pairs(it, bad, similar_scored, t)
            ref = model if cfg.ref_policy == "previous" else cfg.model
            new_model = self.train(it, model, ref, pairs)
            ev = self.evaluate(new_model, f"M_{t + 1}", it)
            summary = (
                read_json(Path(new_model) / "apt_summary.json")
                if (Path(new_model) / "apt_summary.json").exists()
                else {}
            )
            entry = {"iteration": t + 1, "model": new_model, "bad_cases": len(bad), "bad_rate": len(bad) / len(scored),
                     "pairs": sum(1 for _ in open(pairs)), "train": _train_summary(summary), **_summary(ev)}  # fmt: skip
            history.append(entry)
            self.log(
                f"M_{t + 1}: dev {entry['dev']:.3f}"
                + (f", guard {entry['guard']:.3f}" if entry.get("guard") is not None else "")
            )
            model = new_model
            reason = stop_reason(base, history, cfg)
            if reason:
                break
        best = best_model(base, history, cfg)
        final = {"stopped": reason or f"finished {cfg.iterations} iteration(s)", "best": best, "base": base,
                 "history": history, "stage_seconds": self.stage_seconds}  # fmt: skip
        write_json(self.run.root / "final.json", final)
        from openrlhf_weakness.apt.report import write_report

        write_report(self.run.root, final)
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
