"""One shared training plan, carried to each arm's training module: the flags a module's parsers do not know (DPO's
``--model.beta``, ``--apt.*`` for an SFT arm) stay with the modules that know them."""

from __future__ import annotations

from functools import lru_cache

# cli.train_apt flags an arm sets itself (its model, data, output): refused among the shared training flags
ARM_SETS_TRAINING = (
    "--model.model_name_or_path",
    "--ref.model_name_or_path",
    "--data.dataset",
    "--data.prompt_key",
    "--data.input_key",
    "--data.output_key",
    "--apt.weight_key",
    "--ckpt.output_dir",
    "--data.apply_chat_template",
    "--train.seed",
)
SHARED_MODULE = "openrlhf_weakness.cli.train_apt"


def parse_shared(argv: list[str]):
    """The training flags after ``--``, parsed once with cli.train_apt's parsers (OpenRLHF's train_dpo plus
    ``--apt.*``)."""
    from openrlhf_weakness.patches import default_attn_implementation
    from openrlhf_weakness.training import TrainingPlan

    plan = TrainingPlan.parse(SHARED_MODULE, argv, refused=ARM_SETS_TRAINING, reason="each arm (its model and data)")
    return plan.with_defaults(**{"--ds.attn_implementation": default_attn_implementation()})  # no flash-attn on CPU


@lru_cache(maxsize=None)
def _defaults(openrlhf_module: str):
    from openrlhf_weakness import openrlhf_cli

    return openrlhf_cli.parse_args(openrlhf_module, [])


def _known(namespace, name: str) -> bool:
    node = namespace
    for part in name[2:].split("."):
        if not hasattr(node, part):
            return False
        node = getattr(node, part)
    return True


def plan_for(plan, module: str):
    """``plan``'s flags that ``module`` takes, as a plan for ``module`` (parsed by its parsers)."""
    from openrlhf_weakness.training import TRAINING_MODULES, TrainingPlan

    if module == plan.module:
        return plan
    openrlhf_module, group, _ = TRAINING_MODULES[module]
    project_groups = {g for _, g, _ in TRAINING_MODULES.values() if g}
    keep = {}
    for name, values in plan.flags.items():
        flag_group = name[2:].partition(".")[0]
        if flag_group in project_groups:
            if flag_group == group:
                keep[name] = values
        elif _known(_defaults(openrlhf_module), name):
            keep[name] = values
    return TrainingPlan.parse(module, [t for name, values in keep.items() for t in (name, *values)])
