"""One demo iteration of the APT loop (SmolLM2-135M on reasoning-gym, CPU): seconds per stage and the share of wall
time spent outside model work (model work = loading, generating, training; outside = assessing, retrieval with its
embeddings, pair building, reading, writing, bookkeeping).

    .venv/bin/python benchmarks/bench_apt_iteration.py [--work_dir runs/bench_apt_iteration]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

MODEL_WORK = ("load_model", "generate", "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="runs/bench_apt_iteration")
    parser.add_argument("--out", default="benchmarks/results/apt_iteration.json")
    opts = parser.parse_args()
    from openrlhf_weakness import patches
    from openrlhf_weakness.apt.loop import APTLoop, LoopData
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.cli.demo import DemoConfig, _train_common
    from openrlhf_weakness.demo import rg_score
    from openrlhf_weakness.demo.data import build_demo_data
    from openrlhf_weakness.demo.student import student_model
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    patches.apply()
    work = Path(opts.work_dir)
    demo = DemoConfig()
    data = build_demo_data(work / "data", demo.train, demo.dev, demo.test, demo.pool, demo.guard)
    student = student_model(work / "models")
    shutil.rmtree(work / "apt", ignore_errors=True)  # a fresh run: every stage is computed
    shutil.rmtree(work / "cache", ignore_errors=True)
    shutil.rmtree(work / "embeddings", ignore_errors=True)  # the pool is embedded inside the timed run
    train_args = [a for a in _train_common(demo) if a != "--data.apply_chat_template"]  # the loop sets it from gen
    cfg = APTLoopConfig(
        model=student,
        run_dir=str(work / "apt"),
        iterations=1,
        patience=1,
        guard_max_drop=1.0,
        train_args=train_args + ["--model.beta", "0.1", "--apt.sft_coef", "0.5"],
    )
    gen = GenerationConfig(
        backend="hf",
        model=student,
        max_new_tokens=demo.max_new_tokens,
        batch_size=16,
        dtype="bfloat16",
        chat_template_enable=True,
        cache_dir=str(work / "cache"),
    )
    assess = AssessConfig(assessor="function", function_path=rg_score.__file__, num_workers=1)
    retrieve = RetrieveConfig(tagger="field", tag_key="datasource", cache_dir=str(work / "embeddings"))
    loop = APTLoop(
        cfg,
        LoopData(train=data["train"], pool=data["pool"], dev=data["dev"], guard=data["guard"]),
        gen,
        assess,
        retrieve,
        PairsConfig(),
    )
    start = time.perf_counter()
    loop.run_loop()
    wall = time.perf_counter() - start
    stages = dict(loop.stage_seconds)
    model = sum(stages.get(k, 0.0) for k in MODEL_WORK)
    result = {
        "wall_s": wall,
        "stages_s": stages,
        "model_work_s": model,
        "outside_model_s": wall - model,
        "outside_model_share": (wall - model) / wall,
    }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"one APT iteration (base eval + answer, assess, retrieve, pairs, train, eval): {wall:.1f} s")
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<11} {seconds:7.1f} s  {seconds / wall:6.1%}{'  (model work)' if name in MODEL_WORK else ''}")
    print(f"  outside model work: {wall - model:.1f} s = {(wall - model) / wall:.1%} of wall time")


if __name__ == "__main__":
    main()
