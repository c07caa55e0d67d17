"""The APT loop's stages. Each declares the settings it reads, its inputs' signatures and its artifacts, and the
:class:`~openrlhf_weakness.runner.StageRunner` of ``loop.runner`` reuses or computes it; each returns
(result, signature), and later stages take that signature as an input, so a change flows forward."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from openrlhf_weakness.io import write_json, write_jsonl
from openrlhf_weakness.io.stages import file_digest
from openrlhf_weakness.runner import Stage, clear_partial, read_json

logger = logging.getLogger(__name__)
SPLITS = ("dev", "guard", "test")


def score(loop, it: Path, name: str, model: str, model_sig: str, rows: list[dict], rows_sig: str):
    """``rows`` answered by ``model`` and assessed, in ``it/<name>.jsonl``."""

    def compute(folder: Path) -> None:
        write_jsonl(folder / f"{name}.jsonl", loop.scorer.answer(model, rows, f"{it.name}: answer {name}"))

    return loop.runner.run(
        Stage(name, loop.scorer.settings(), [model_sig, rows_sig], [f"{name}.jsonl"], compute, folder=it)
    )


def mine(loop, it: Path, scored: list[dict], scored_sig: str, iteration: int):
    """The bad cases (plus, in the first iteration, the ledger's failures) in ``it/bad.jsonl``."""
    ledger = loop.data.ledger if iteration == 0 else None

    def compute(folder: Path) -> None:
        bad = [r for r in scored if r["bad"]]
        logger.info("[apt] %s: %d bad cases of %d", it.name, len(bad), len(scored))
        if ledger:  # failures seen elsewhere (GRPO's reward hook) join the first round
            from_ledger = loop.ledger_rows(ledger)
            logger.info("[apt] %s: %d bad cases from the ledger %s", it.name, len(from_ledger), ledger)
            bad += from_ledger
        write_jsonl(folder / "bad.jsonl", bad)

    settings = {"bad_below": loop.assess.bad_below, "ledger": ledger}
    return loop.runner.run(
        Stage("bad", settings, [scored_sig, file_digest(ledger)], ["bad.jsonl"], compute, folder=it)
    )


def sample(loop, it: Path, bad: list[dict], bad_sig: str, model: str, model_sig: str):
    """The bad cases answered ``--pairs.samples`` more times at ``--pairs.sample_temperature`` and assessed (for a
    self-correct chosen or a sampled rejected), beside their greedy answer in ``it/samples.jsonl``."""
    from openrlhf_weakness.backends.config import SamplingParams

    n, temperature = loop.pairs_cfg.samples, loop.pairs_cfg.sample_temperature

    def compute(folder: Path) -> None:
        params = replace(SamplingParams.from_config(loop.gen), n=n, temperature=temperature)
        scored = loop.scorer.answer(model, bad, f"{it.name}: sample bad cases", params=params, samples=True)
        rows = [dict(b, responses=s["responses"], scores=s["scores"]) for b, s in zip(bad, scored)]
        right = sum(any(x is not None and x >= loop.assess.bad_below for x in r["scores"]) for r in rows)
        logger.info("[apt] %s: %d of %d bad cases have a right answer among %d samples", it.name, right, len(rows), n)
        write_jsonl(folder / "samples.jsonl", rows)

    settings = {**loop.scorer.settings(), "samples": n, "temperature": temperature}
    return loop.runner.run(Stage("samples", settings, [model_sig, bad_sig], ["samples.jsonl"], compute, folder=it))


def retrieve(loop, it: Path, bad: list[dict], bad_sig: str, model: str, model_sig: str):
    """Pool cases similar to the bad cases, decontaminated against dev, guard and test."""
    from openrlhf_weakness.backends.config import model_settings

    tagger = replace(loop.gen, model=model, cache_dir=loop.gen.cache_dir or str(loop.runner.root / "cache"))
    llm = loop.retrieve_cfg.tagger == "llm"
    settings = {
        "retrieve": asdict(loop.retrieve_cfg),
        "key": loop.keys.input,
        "tagger": model_settings(replace(tagger, model=None)) if llm else None,
    }
    evals = [file_digest(getattr(loop.data, split)) for split in SPLITS]
    inputs = [bad_sig, file_digest(loop.data.pool), evals, model_sig if llm else None]

    def compute(folder: Path) -> None:
        from openrlhf_weakness.retrieve.stage import RetrieveInputs, retrieve_similar

        query = RetrieveInputs(
            bad, loop.data.pool, loop.keys.input, eval_texts=loop.eval_texts(), source=str(folder / "bad.jsonl")
        )
        rows, summary = loop.runner.timed("retrieve", lambda: retrieve_similar(query, loop.retrieve_cfg, tagger))
        write_json(folder / "similar.jsonl.summary.json", summary)
        write_jsonl(folder / "similar.jsonl", rows)
        logger.info("[apt] retrieved %d similar cases (decontaminated against dev/guard/test)", len(rows))

    outputs = ["similar.jsonl", "similar.jsonl.summary.json"]
    return loop.runner.run(Stage("similar", settings, inputs, outputs, compute, folder=it))


def pairs(loop, it: Path, bad: list[dict], similar_scored: list[dict], iteration: int, inputs: list):
    """Preference (and SFT-only) rows in ``it/pairs.jsonl``; ``inputs``: the bad and scored-similar signatures.
    Returns (path, signature)."""
    from openrlhf_weakness.apt.pairs import build_pairs, sft_only_rows

    cfg, bad_below = loop.pairs_cfg, loop.assess.bad_below
    keys = {"prompt": loop.keys.input, "reference": loop.keys.reference, "response": "response", "score": "score"}
    chat = loop.gen.chat_template_enable

    def compute(folder: Path) -> None:
        rows, counts = loop.runner.timed(
            "pairs",
            lambda: build_pairs(bad, similar_scored, cfg, keys, chat, bad_below=bad_below, iteration=iteration),
        )
        if cfg.general_ratio:  # general rows against forgetting, in place of as many pairs (the budget stays)
            from openrlhf_weakness.backends.base import message_text
            from openrlhf_weakness.data.mix import mix_in

            evals = set(loop.eval_texts())  # a general row that is a dev, guard or test question is left out
            kept = [r for r in loop.load(cfg.general_data) if message_text(r[keys["prompt"]]) not in evals]
            general = sft_only_rows(kept, keys, chat, iteration, "general")
            rows, replaced = mix_in(rows, general, cfg.general_ratio, cfg.seed + iteration)
        write_jsonl(folder / "pairs.jsonl", rows)
        built = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        written = ", ".join(f"{k}: {v}" for k, v in sorted(Counter(str(r.get("source")) for r in rows).items()))
        logger.info("[apt] pairs: %d rows by source (%s); built before any general mix: %s", len(rows), written, built)

    # the settings of when bad_below and iteration were PairsConfig fields: today's run directories are reused
    settings = {"pairs": {**cfg.signature_fields(), "bad_below": bad_below, "iteration": iteration}, "chat": chat}
    if cfg.general_ratio:
        inputs = [*inputs, file_digest(cfg.general_data)]
    return loop.runner.run(Stage("pairs", settings, inputs, ["pairs.jsonl"], compute, lambda f: f / "pairs.jsonl", it))


def train(loop, it: Path, model: str, ref: str, pairs_path: Path, inputs: list):
    """M_{t+1} in ``it/model``, trained by ``cli.train_apt`` from the loop's training plan; ``inputs``: the
    signatures of the model, the reference model and the pairs. The signature identifies the new model later on."""
    from openrlhf_weakness.patches import default_attn_implementation

    def compute(folder: Path) -> None:
        tmp = folder / "model.tmp"
        clear_partial(tmp)  # an interrupted training restarts from scratch
        n_pairs = sum(1 for _ in open(pairs_path))
        plan = (
            loop.plan.fit_batch(n_pairs)  # a small round: one optimizer step over what there is
            .with_defaults(**{"--ds.attn_implementation": default_attn_implementation()})
            .set(
                **{
                    "--model.model_name_or_path": model,
                    "--ref.model_name_or_path": ref,
                    "--data.dataset": str(pairs_path),
                    "--data.prompt_key": "prompt",
                    "--apt.weight_key": "weight",
                    "--ckpt.output_dir": str(tmp),
                    "--data.apply_chat_template": loop.gen.chat_template_enable,
                }
            )
        )
        write_json(folder / "train_args.json", plan.as_record())
        logger.info("[apt] training on %d rows -> %s", n_pairs, folder / "model")
        run = lambda: plan.run(
            folder / "train.log", loop.cfg.launcher_enable, loop.cfg.hostfile, (loop.runner.lock_fd,)
        )
        loop.runner.timed("train", run)
        os.replace(tmp, folder / "model")

    settings = {"train_args": loop.cfg.train_args, "chat": loop.gen.chat_template_enable}
    outputs = ["model", "train_args.json"]
    return loop.runner.run(Stage("model", settings, inputs, outputs, compute, lambda f: str(f / "model"), it))


def evaluate(loop, model: str, name: str, folder: Path, model_sig: str | None = None) -> dict:
    """Dev (and guard, test when given) scores of ``model`` (identified by ``model_sig``, default its path), kept in
    ``folder/eval.json``; a folder outside the run directory (a baseline's) works too."""
    splits = [split for split in SPLITS if getattr(loop.data, split)]
    max_new_tokens = loop.cfg.eval_max_new_tokens
    inputs = [model_sig or model] + [file_digest(getattr(loop.data, split)) for split in splits]

    def compute(folder: Path) -> None:
        rows = {split: loop.load(getattr(loop.data, split)) for split in splits}
        scored = loop.scorer.evaluate(model, rows, name, max_new_tokens, loop.data.keys.datasource_key)
        for split, (_, answered) in scored.items():
            write_jsonl(folder / f"eval_{split}.jsonl", answered)
        write_json(folder / "eval.json", {split: scores for split, (scores, _) in scored.items()})

    outputs = ["eval.json"] + [f"eval_{split}.jsonl" for split in splits]
    stage = Stage(
        "eval",
        loop.scorer.settings(max_new_tokens),
        inputs,
        outputs,
        compute,
        lambda f: read_json(f / "eval.json"),
        folder,
    )
    return loop.runner.run(stage)[0]
