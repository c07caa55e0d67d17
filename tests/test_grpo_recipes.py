"""Every GRPO recipe's train_ppo_ray flags, as written, through OpenRLHF's own parser and one real GRPO step on the
vLLM stand-in (sizes scaled to a tiny model on one CPU), so a flag OpenRLHF renames fails here, not on a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openrlhf_weakness.testing.grpo_run import run_train_grpo, write_addition_prompts

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
GRPO_RECIPES = ["stat_then_grpo.sh", "apt_then_grpo.sh", "grpo_two_nodes.sh"]
ONE_CPU_STEP = {  # the recipes' sizes, scaled to one GRPO step of a tiny model on this machine
    "--ref.num_nodes": "1",
    "--ref.num_gpus_per_node": "1",
    "--actor.num_nodes": "1",
    "--actor.num_gpus_per_node": "1",
    "--vllm.num_engines": "1",
    "--vllm.tensor_parallel_size": "1",
    "--train.micro_batch_size": "4",
    "--train.batch_size": "8",
    "--rollout.micro_batch_size": "4",
    "--rollout.batch_size": "4",
    "--rollout.n_samples_per_prompt": "2",
    "--data.max_len": "64",
    "--rollout.max_new_tokens": "4",
    "--data.max_samples": "4",
    "--eval.steps": "1",
    "--eval.n_samples_per_prompt": "2",
}


def recipe_grpo_argv(recipe: str, values: dict[str, str]) -> list[str]:
    """The recipe's train_ppo_ray flags with its variables filled from ``values`` and its sizes scaled down."""
    from test_recipes import recipe_command

    module, *argv = recipe_command(RECIPES / recipe, "grpo_commands")
    assert module == "openrlhf.cli.train_ppo_ray"
    out = []
    for arg in argv:
        for name, value in values.items():
            arg = arg.replace(f"/placeholder/{name}", value)
        out.append(arg)
    for i, arg in enumerate(out[:-1]):
        if arg in ONE_CPU_STEP and not out[i + 1].startswith("--"):
            out[i + 1] = ONE_CPU_STEP[arg]
    assert not [a for a in out if "/placeholder/" in a], out
    return out


@pytest.mark.parametrize(
    "recipe", [GRPO_RECIPES[0], *(pytest.param(r, marks=pytest.mark.slow) for r in GRPO_RECIPES[1:])]
)  # the first (colocated, both sleeps, ZeRO-3, eval, best-checkpoint key) in every run; all in `make test-all`
def test_grpo_recipe_runs_one_step_on_the_stand_in(recipe, tiny_model, tmp_path):
    from openrlhf_weakness.cli.reward_hook_path import hook_path

    prompts = write_addition_prompts(tmp_path / "prompts.jsonl", 4, datasource="add")
    values = {
        "HOOK": hook_path(),
        "PROMPTS": str(prompts),
        "EVAL_PROMPTS": str(prompts),
        "WEAK_SKILL": "add",
        "SFT_OUT": str(tiny_model),
        "APT_OUT": str(tiny_model),
        "POLICY": str(tiny_model),
        "GRPO_OUT": str(tmp_path / "out"),
        "STUDENT": str(tiny_model),
        "LEDGER": str(tmp_path / "ledger.jsonl"),
    }
    argv = recipe_grpo_argv(recipe, values)
    env = {
        "ORW_REWARD_ASSESSOR": "math",
        "ORW_REWARD_LEDGER": str(tmp_path / "ledger.jsonl"),
        "ORW_REWARD_NUM_WORKERS": "1",
    }
    run = run_train_grpo([*argv, "--ckpt.path", str(tmp_path / "ckpt")], env=env)
    assert run.returncode == 0, run.output[-6000:]
    assert sorted(run.steps) == [1] and run.steps[1]["rollout/num_samples"] == 8
    assert "eval_add_pass1" in run.evals[1]  # the rows' datasource reaches OpenRLHF's per-skill eval
    ledger = [json.loads(line) for line in open(tmp_path / "ledger.jsonl")]
    assert ledger and all(row["datasource"] == "add" for row in ledger)  # the tiny model fails: every sample here


@pytest.mark.parametrize("recipe", GRPO_RECIPES)
def test_grpo_recipe_flags_pass_openrlhfs_own_parser(recipe, standin_on_path):
    """Fast: train_ppo_ray's real parser (importable here through the stand-in) takes every flag as written."""
    from openrlhf_weakness import openrlhf_cli
    from openrlhf_weakness.rollout import cpu_ray

    cpu_ray.apply_grpo_patches()
    argv = recipe_grpo_argv(
        recipe,
        {
            "HOOK": "/h.py",
            "PROMPTS": "/p.jsonl",
            "EVAL_PROMPTS": "/e.jsonl",
            "WEAK_SKILL": "add",
            "SFT_OUT": "/m",
            "APT_OUT": "/m",
            "POLICY": "/m",
            "GRPO_OUT": "/o",
            "LEDGER": "/l.jsonl",
        },
    )
    args = openrlhf_cli.parse_args("openrlhf.cli.train_ppo_ray", argv)
    assert args.algo.advantage.estimator == "group_norm" and args.reward.remote_url in ("/h.py", ["/h.py"])
    assert args.ckpt.best_metric_key == "eval_add_pass1" and args.eval.dataset == "/e.jsonl"
