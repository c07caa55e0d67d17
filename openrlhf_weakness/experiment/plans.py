"""The training flags every arm shares, parsed once; each arm carries them to its own module with
:meth:`~openrlhf_weakness.training.TrainingPlan.for_module`."""

from __future__ import annotations

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

    plan = TrainingPlan.parse(
        SHARED_MODULE, argv, refused=ARM_SETS_TRAINING, reason="are set by each arm (its model and data)"
    )
    return plan.with_defaults(**{"--ds.attn_implementation": default_attn_implementation()})  # no flash-attn on CPU
