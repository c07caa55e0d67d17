"""GRPO steps per minute through OpenRLHF's own train_ppo_ray on this CPU (rollouts on the vLLM stand-in), and where a
step's time goes: generation (the stand-in's transformers calls), the rest of the rollout (reward hook, dispatch),
training (experience making + PPO update), weight sync, and everything else.

Two ways of doing the same work in one run: the stand-in batching a step's requests into shared ``generate`` calls
(``--standin.max_batch 64``) against one call per sample (``--standin.max_batch 1``), on the tiny model; then
SmolLM2-135M-Instruct (from the offline GGUF) with batching.

    .venv/bin/python benchmarks/bench_grpo_step.py [--steps 6] [--smollm_steps 3] [--out benchmarks/results/grpo_step.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def breakdown(run, trace_path: Path) -> dict:
    """Per-step seconds by phase, from OpenRLHF's logged timings and the stand-in's trace (steady state: step 1,
    which includes warm-up, is left out)."""
    trace = [json.loads(line) for line in open(trace_path)]
    sync_times = [row["time"] for row in trace if row["event"] == "sync"]
    engine_seconds = defaultdict(float)
    for row in trace:
        if row["event"] == "generate":
            engine_seconds[row["sync_round"] + 1] += row["seconds"]
    steps = sorted(run.steps)[1:]
    walls = [b - a for a, b in zip(sync_times, sync_times[1:])]  # end of step k to end of step k+1
    phases = defaultdict(float)
    for step in steps:
        status = run.steps[step]
        generate = engine_seconds[step]
        phases["generation"] += generate
        phases["reward and rollout dispatch"] += status["timing/generation"] - generate
        phases["training"] += status["timing/make_experience"] + status["timing/ppo_train"]
        phases["weight sync"] += status["timing/broadcast"]
    wall = sum(walls)
    phases["everything else"] = wall - sum(phases.values())
    hook = sum(run.steps[s].get("hook_seconds", 0.0) * run.steps[s]["rollout/num_samples"] for s in steps)
    return {
        "steps_timed": len(steps),
        "seconds_per_step": wall / len(steps),
        "steps_per_minute": 60 * len(steps) / wall,
        "share": {k: v / wall for k, v in phases.items()},
        "reward_hook_seconds_summed_over_samples": hook / len(steps),
        "run_seconds_with_startup": run.seconds,
    }


def one_run(name: str, model: str, work: Path, steps: int, max_new_tokens: int, max_batch: int) -> dict:
    from openrlhf_weakness.cli.reward_hook_path import hook_path
    from openrlhf_weakness.testing.grpo_run import run_train_grpo, tiny_grpo_argv, write_addition_prompts

    run_dir = work / name
    run_dir.mkdir(parents=True, exist_ok=True)
    prompts = write_addition_prompts(run_dir / "prompts.jsonl", 8 * steps)
    trace = run_dir / "trace.jsonl"
    trace.unlink(missing_ok=True)
    argv = tiny_grpo_argv(
        model,
        str(prompts),
        str(run_dir / "out"),
        hook_path(),
        steps=steps,
        **{"--rollout.max_new_tokens": str(max_new_tokens), "--data.max_len": "160", "--actor.adam.lr": "1e-6"},
    )
    env = {"ORW_REWARD_ASSESSOR": "math", "ORW_REWARD_NUM_WORKERS": "1"}
    run = run_train_grpo([*argv, "--standin.trace", str(trace), "--standin.max_batch", str(max_batch)], env=env)
    if run.returncode != 0:
        raise SystemExit(f"{name}: train_grpo failed:\n{run.output[-3000:]}")
    return {
        "model": model,
        "max_new_tokens": max_new_tokens,
        "max_batch": max_batch,
        "samples_per_step": 32,
        **breakdown(run, trace),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--smollm_steps", type=int, default=3, help="0 skips SmolLM2-135M")
    parser.add_argument("--out", default="benchmarks/results/grpo_step.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    tiny = str(build_tiny_model(work / "tiny-llama"))
    results = {
        "tiny_batched": one_run("tiny_batched", tiny, work, args.steps, 16, 64),
        "tiny_one_per_call": one_run("tiny_one_per_call", tiny, work, args.steps, 16, 1),
    }
    if args.smollm_steps:
        from openrlhf_weakness.demo.student import student_model

        smollm = student_model(work / "smollm")
        results["smollm2_135m_batched"] = one_run("smollm2", smollm, work, args.smollm_steps, 32, 64)
    ratio = results["tiny_batched"]["steps_per_minute"] / results["tiny_one_per_call"]["steps_per_minute"]
    results["ratio_batched_over_one_per_call_tiny"] = ratio
    Path(args.out).write_text(json.dumps(results, indent=2))
    for name, r in results.items():
        if isinstance(r, dict):
            shares = ", ".join(f"{k} {v:.0%}" for k, v in r["share"].items())
            print(f"{name}: {r['steps_per_minute']:.1f} steps/min ({r['seconds_per_step']:.2f} s/step); {shares}")
    print(f"ratio (tiny, batched / one generate call per sample): {ratio:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
