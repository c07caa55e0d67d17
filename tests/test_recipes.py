"""Recipes: the CPU one runs as written; the GPU one's flags are accepted by OpenRLHF's own parser and ours."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def recipe_command(path: Path, name: str = "training_commands") -> list[str]:
    """A here-document command of an OpenRLHF-style recipe, variables replaced by placeholders."""
    text = path.read_text()
    body = re.search(rf"{name} <<EOF[^\n]*\n(.*?)\nEOF", text, re.S).group(1)
    body = re.sub(r"\$\{?(\w+)\}?", r"/placeholder/\1", body.replace("\\\n", " "))
    return shlex.split(body)


def test_gpu_recipe_flags_are_all_accepted():
    from openrlhf_weakness import openrlhf_cli, patches
    from openrlhf_weakness.cli import train_apt

    module, *argv = recipe_command(RECIPES / "train_apt.sh")
    assert module == "openrlhf_weakness.cli.train_apt"
    known, rest = train_apt._apt_parser().parse_known_args(argv)
    assert not [a for a in rest if a.startswith("--apt.")]
    assert getattr(known, "apt.sft_coef") == 0.5 and getattr(known, "apt.weight_key") == "weight"
    patches.apply()
    args = openrlhf_cli.parse_args(train_apt.OPENRLHF_MODULE, rest)  # exits on any unknown flag
    assert args.model.beta == 0.1 and args.ds.lora.rank == 64 and args.ds.zero_stage == 3


def test_cpu_recipe_runs_and_trains(tmp_path):
    env = dict(os.environ, WORK=str(tmp_path / "work"), PY=sys.executable)
    proc = subprocess.run(
        ["bash", str(RECIPES / "train_apt_cpu.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "work" / "out" / "apt_summary.json").read_text())
    assert summary["steps"] == 16 and summary["last"]["margin"] > summary["first"]["margin"]


def openrlhf_source_flags(module: str) -> set[str]:
    """Flags declared in an OpenRLHF CLI's source (read, not imported: train_ppo_ray needs vLLM to import)."""
    import importlib.util

    source = Path(importlib.util.find_spec(module).origin).read_text()
    flags = set(re.findall(r'add_argument\(\s*"(--[\w.]+)"', source))
    for template in re.findall(r'add_argument\(\s*f"(--\{prefix\}[\w.]+)"', source):
        flags |= {template.replace("{prefix}", p) for p in ("actor", "critic")}
    return flags


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.sh")))
def test_recipes_pass_bash_syntax_check(recipe):
    assert subprocess.run(["bash", "-n", str(RECIPES / recipe)]).returncode == 0


def test_apt_then_grpo_flags_exist_in_openrlhf_and_the_hook_path_exists():
    from openrlhf_weakness import openrlhf_cli, patches
    from openrlhf_weakness.cli import train_apt

    module, *argv = recipe_command(RECIPES / "apt_then_grpo.sh", "apt_commands")
    assert module == "openrlhf_weakness.cli.train_apt"
    _, rest = train_apt._apt_parser().parse_known_args(argv)
    patches.apply()
    openrlhf_cli.parse_args(train_apt.OPENRLHF_MODULE, rest)

    module, *argv = recipe_command(RECIPES / "apt_then_grpo.sh", "grpo_commands")
    assert module == "openrlhf.cli.train_ppo_ray"
    known = openrlhf_source_flags(module)
    assert {"--reward.remote_url", "--actor.adam.lr", "--algo.advantage.estimator"} <= known
    used = [a for a in argv if a.startswith("--")]
    assert not [f for f in used if f not in known]
    assert argv[argv.index("--algo.advantage.estimator") + 1] == "group_norm"
    assert (
        argv[argv.index("--rollout.n_samples_per_prompt") + 1] == "4"
        and argv[argv.index("--algo.kl.init_coef") + 1] == "0"
    )
    hook = subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.reward_hook_path"], capture_output=True, text=True
    )
    assert Path(hook.stdout.strip()).is_file() and "reward_hook_path" in (RECIPES / "apt_then_grpo.sh").read_text()


def _check_openrlhf_cli(module: str, argv: list[str]) -> None:
    """Every flag of a recipe command exists: ours parsed by our parsers, OpenRLHF's by OpenRLHF's."""
    from openrlhf_weakness import openrlhf_cli, patches

    patches.apply()
    if module == "openrlhf_weakness.cli.train_stat_sft":
        from openrlhf_weakness.cli import train_stat_sft

        _, rest = train_stat_sft._parser().parse_known_args(argv)
        assert not [a for a in rest if a.startswith("--stat.")]
        openrlhf_cli.parse_args(train_stat_sft.OPENRLHF_MODULE, rest)
    elif module == "openrlhf_weakness.cli.stat":
        from openrlhf_weakness.cli import stat

        stat.build_parser().parse_args(argv)
    elif module == "openrlhf.cli.train_ppo_ray":
        known = openrlhf_source_flags(module)
        assert not [f for f in argv if f.startswith("--") and f not in known]
    else:
        openrlhf_cli.parse_args(module, argv)


@pytest.mark.parametrize(
    "recipe, heredocs",
    [
        ("stat_sel.sh", ["stat_commands", "training_commands"]),
        ("stat_syn.sh", ["stat_commands", "training_commands"]),
        ("stat_then_grpo.sh", ["sft_commands", "grpo_commands"]),
    ],
)
def test_stat_recipes_flags_exist(recipe, heredocs):
    for name in heredocs:
        module, *argv = recipe_command(RECIPES / recipe, name)
        _check_openrlhf_cli(module, argv)
    text = (RECIPES / recipe).read_text()
    if "grpo" in recipe:
        module, *argv = recipe_command(RECIPES / recipe, "grpo_commands")
        assert argv[argv.index("--algo.advantage.estimator") + 1] == "group_norm"
        assert argv[argv.index("--actor.adam.lr") + 1] == "5e-7" and "reward_hook_path" in text


@pytest.mark.parametrize("recipe", ["apt_loop.sh", "apt_two_nodes.sh", "apt_judge_vllm.sh"])
def test_apt_loop_recipe_flags_and_its_training_flags_exist(recipe):
    from openrlhf_weakness import openrlhf_cli, patches
    from openrlhf_weakness.cli import apt, train_apt

    module, *argv = recipe_command(RECIPES / recipe, "loop_commands")
    assert module == "openrlhf_weakness.cli.apt"
    split = argv.index("--")
    args = apt.build_parser().parse_args(argv[:split])
    assert getattr(args, "loop.iterations") == 3
    if recipe == "apt_two_nodes.sh":
        assert getattr(args, "loop.hostfile") and getattr(args, "gen.num_engines") == 16
    patches.apply()
    from openrlhf_weakness.apt.loop import training_plan

    plan = training_plan(argv[split + 1 :])  # refuses the loop's own flags, parses the rest with both parsers
    assert plan.argv() == argv[split + 1 :]
    known, rest = train_apt._apt_parser().parse_known_args(argv[split + 1 :])
    assert getattr(known, "apt.sft_coef") == 0.5
    parsed = openrlhf_cli.parse_args(train_apt.OPENRLHF_MODULE, rest + ["--model.model_name_or_path", "m"])
    assert parsed.adam.lr == 1e-6 and parsed.ds.lora.rank == (64 if recipe == "apt_loop.sh" else 0)


def test_two_node_grpo_recipe_flags_exist_in_openrlhf():
    module, *argv = recipe_command(RECIPES / "grpo_two_nodes.sh", "grpo_commands")
    assert module == "openrlhf.cli.train_ppo_ray"
    _check_openrlhf_cli(module, argv)
    assert argv[argv.index("--actor.num_nodes") + 1] == "2" and argv[argv.index("--ref.num_nodes") + 1] == "2"
    assert argv[argv.index("--algo.advantage.estimator") + 1] == "group_norm"


def test_a_hostfile_trains_under_the_multi_node_launcher():
    from openrlhf_weakness.launch import training_command

    cmd = training_command("openrlhf_weakness.cli.train_apt", ["--adam.lr", "1e-6"], hostfile="/shared/hostfile")
    assert cmd == [
        "deepspeed",
        "--hostfile",
        "/shared/hostfile",
        "--module",
        "openrlhf_weakness.cli.train_apt",
        "--adam.lr",
        "1e-6",
    ]
    assert training_command("openrlhf.cli.train_dpo", [], use_launcher=False)[1:3] == [
        "-m",
        "openrlhf_weakness.cli.run_openrlhf",
    ]


# `vllm serve` options used by the judge recipe, as vLLM's CLI spells them (vLLM is not installed on CPU hosts, so its
# parser cannot run here; these are long-standing engine/server arguments of `vllm serve --help`).
VLLM_SERVE_FLAGS = {
    "--host",
    "--port",
    "--served-model-name",
    "--dtype",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--tensor-parallel-size",
}


def test_judge_recipe_serves_the_model_the_loop_asks_for():
    serve = recipe_command(RECIPES / "apt_judge_vllm.sh", "judge_commands")
    assert serve[:2] == ["vllm", "serve"]
    assert {a for a in serve if a.startswith("--")} <= VLLM_SERVE_FLAGS
    _, *argv = recipe_command(RECIPES / "apt_judge_vllm.sh", "loop_commands")
    loop = argv[: argv.index("--")]
    served = serve[serve.index("--served-model-name") + 1]
    assert loop[loop.index("--judge.model") + 1] == served
    port = serve[serve.index("--port") + 1]
    assert loop[loop.index("--judge.base_url") + 1] == f"http://127.0.0.1:{port}/v1"
    assert loop[loop.index("--assess.assessor") + 1] == "judge"
