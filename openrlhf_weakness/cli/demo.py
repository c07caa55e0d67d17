"""The embedded demo (``make demo``): APT makes SmolLM2-135M-Instruct better at reasoning-gym arithmetic, on CPU,
offline, and is compared with a same-budget SFT baseline and with DPO without the SFT term.

    python -m openrlhf_weakness.cli.demo [--demo.iterations 2 --demo.train 64 ...]

Everything lands in ``--demo.work_dir`` (rerunning resumes); the comparison is printed and written to
``demo_results.md`` there, with the APT run's ``report.md`` and plots under ``apt/``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import add_flags, flag, from_namespace, nested


@dataclass
class DemoConfig:
    """Demo sizes (the defaults fit about 15 minutes on 2 CPU cores)."""

    work_dir: str = flag("runs/demo", "where data, the converted model, runs and results go")
    iterations: int = flag(2, "APT iterations")
    train: int = flag(64, "domain training questions answered each iteration")
    dev: int = flag(32, "domain dev questions (the loop's stop rule)")
    test: int = flag(64, "held-out domain test questions (the reported numbers)")
    pool: int = flag(400, "retrieval pool size")
    guard: int = flag(32, "out-of-domain guard questions (gcd)")
    max_new_tokens: int = flag(32, "new tokens per answer")
    lr: float = flag(2e-5, "learning rate of every training run (APT and baselines)")
    epochs: int = flag(1, "epochs of every training run")
    sft_coef: float = flag(0.5, "APT's alpha")
    skip_baselines_enable: bool = flag(False, "only run APT")


def _train_common(cfg: DemoConfig) -> list[str]:
    """Training flags shared by APT and both baselines: same batches, steps and learning rate."""
    from openrlhf_weakness.patches import cpu_training_dtype_args

    return [
        "--train.micro_batch_size",
        "8",
        "--train.batch_size",
        "16",
        "--train.max_epochs",
        str(cfg.epochs),
        "--adam.lr",
        str(cfg.lr),
        "--data.max_len",
        "160",
        "--data.apply_chat_template",
        "--ds.attn_implementation",
        "eager",
        *cpu_training_dtype_args(),
    ]


def _train_once(module: str, args: list[str], out: Path, log: Path) -> str:
    from openrlhf_weakness.apt.run_dir import RunDir
    from openrlhf_weakness.launch import run_training

    if (out / "config.json").exists():
        return str(out)
    tmp = out.with_name(out.name + ".tmp")
    RunDir.clear_partial(tmp)
    run_training(module, [*args, "--ckpt.output_dir", str(tmp)], log)
    os.replace(tmp, out)
    return str(out)


def run_baselines(loop, cfg: DemoConfig, data: dict, student: str, work: Path) -> dict:
    """Same budget as APT's first iteration: as many training rows, the same steps and learning rate."""
    from openrlhf_weakness.io import write_jsonl

    pairs_path = Path(loop.run.root) / "iter_0" / "pairs.jsonl"
    n_rows = sum(1 for _ in open(pairs_path))
    base = work / "baselines"
    base.mkdir(parents=True, exist_ok=True)
    results = {}

    rows = [json.loads(line) for path in (data["train"], data["pool"]) for line in open(path)]
    random.Random(0).shuffle(rows)
    sft_rows = [{"input": r["prompt"], "output": json.loads(r["reference"])["answer"]} for r in rows[:n_rows]]
    write_jsonl(base / "sft_data.jsonl", sft_rows)
    loop.log(f"baseline SFT: {len(sft_rows)} random rows from the pool and domain train data")
    sft = _train_once(
        "openrlhf.cli.train_sft",
        [
            "--model.model_name_or_path",
            student,
            "--data.dataset",
            str(base / "sft_data.jsonl"),
            "--data.input_key",
            "input",
            "--data.output_key",
            "output",
            *_train_common(cfg),
        ],
        base / "sft_model",
        base / "sft_train.log",
    )
    (base / "sft").mkdir(exist_ok=True)
    results["SFT, same budget"] = loop.evaluate(sft, "SFT", base / "sft")

    loop.log(f"baseline DPO without the SFT term on APT's first pairs ({n_rows} rows)")
    dpo = _train_once(
        "openrlhf_weakness.cli.train_apt",
        [
            "--model.model_name_or_path",
            student,
            "--data.dataset",
            str(pairs_path),
            "--data.prompt_key",
            "prompt",
            "--apt.weight_key",
            "weight",
            "--apt.sft_coef",
            "0",
            *_train_common(cfg),
        ],
        base / "dpo_model",
        base / "dpo_train.log",
    )
    (base / "dpo").mkdir(exist_ok=True)
    results["DPO only (alpha 0), APT's pairs"] = loop.evaluate(dpo, "DPO", base / "dpo")
    return results


def results_table(final: dict, baselines: dict) -> str:
    def row(name, test, guard, dev):
        return f"| {name} | {test:.3f} | {guard:.3f} | {dev:.3f} |"

    lines = ["| model | domain test | guard (gcd) | domain dev |", "|---|---|---|---|"]
    b = final["base"]
    lines.append(row("SmolLM2-135M-Instruct (base)", b["test"], b["guard"], b["dev"]))
    for h in final["history"]:
        lines.append(row(f"APT after iteration {h['iteration']}", h["test"], h["guard"], h["dev"]))
    for name, ev in baselines.items():
        lines.append(row(name, ev["test"]["score"], ev["guard"]["score"], ev["dev"]["score"]))
    return "\n".join(lines)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.demo", description=__doc__.splitlines()[0])
    add_flags(parser, DemoConfig, "demo")
    cfg = from_namespace(DemoConfig, nested(parser.parse_args(argv)).demo)
    start = time.time()
    from openrlhf_weakness.apt.loop import APTLoop, LoopData
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.apt.run_dir import write_json
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.demo import rg_score
    from openrlhf_weakness.demo.data import build_demo_data
    from openrlhf_weakness.demo.student import StudentMissing, student_model
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    apply_patches("demo")
    work = Path(cfg.work_dir)
    data = build_demo_data(work / "data", cfg.train, cfg.dev, cfg.test, cfg.pool, cfg.guard)
    try:
        student = student_model(work / "models")
    except StudentMissing as err:
        raise CliError("demo", err) from None
    common = [a for a in _train_common(cfg) if a != "--data.apply_chat_template"]  # the loop sets it from --gen
    train_args = common + ["--model.beta", "0.1", "--apt.sft_coef", str(cfg.sft_coef)]
    loop_cfg = APTLoopConfig(
        model=student,
        run_dir=str(work / "apt"),
        iterations=cfg.iterations,
        patience=cfg.iterations,
        guard_max_drop=0.2,
        train_args=train_args,
    )
    gen = GenerationConfig(
        backend="hf",
        model=student,
        max_new_tokens=cfg.max_new_tokens,
        batch_size=16,
        dtype="bfloat16",
        chat_template_enable=True,
        cache_dir=str(work / "cache"),
    )
    assess = AssessConfig(assessor="function", function_path=rg_score.__file__, function_scale="unit", num_workers=1)
    retrieve = RetrieveConfig(tagger="field", tag_key="datasource", cache_dir=str(work / "embeddings"))
    loop_data = LoopData(
        train=data["train"], pool=data["pool"], dev=data["dev"], guard=data["guard"], test=data["test"]
    )
    loop = APTLoop(loop_cfg, loop_data, gen, assess, retrieve, PairsConfig())
    final = loop.run_loop()
    baselines = (
        {} if cfg.skip_baselines_enable or not final["history"] else run_baselines(loop, cfg, data, student, work)
    )
    table = results_table(final, baselines)
    minutes = (time.time() - start) / 60
    text = (
        f"# openrlhf-weakness demo\n\nScores are reasoning-gym's `score_answer` on the last number of each answer "
        f"(greedy, {cfg.max_new_tokens} new tokens), averaged; test {cfg.test}, guard {cfg.guard}, dev {cfg.dev} "
        f"questions. APT stopped: {final['stopped']}. Wall time of this invocation: {minutes:.1f} min.\n\n{table}\n"
    )
    (work / "demo_results.md").write_text(text)
    write_json(work / "demo_results.json", {"final": final, "baselines": baselines, "minutes": minutes})
    print("\n" + text)
    print(f"APT report: {work / 'apt' / 'report.md'} (plots beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
