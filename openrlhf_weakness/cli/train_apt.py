"""APT hybrid DPO + SFT training: every flag of the installed ``openrlhf.cli.train_dpo`` plus ``--apt.*``.

    deepspeed --module openrlhf_weakness.cli.train_apt <train_dpo flags> --apt.sft_coef 0.5 --apt.weight_key weight

The ``--apt.*`` flags are parsed here; everything else goes to OpenRLHF's own ``train_dpo`` module, run as it is with
``APTTrainer`` and ``APTRewardDataset`` put in place of ``DPOTrainer`` and ``RewardDataset``. On a CPU host
``--ds.param_dtype`` also takes fp32 (the fp32_params patch; bf16 is emulated, and 2-10x slower, on most CPUs).
"""

from __future__ import annotations

import argparse
import functools
import sys

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import from_namespace, nested

OPENRLHF_MODULE = "openrlhf.cli.train_dpo"


def _apt_parser():
    from openrlhf_weakness.training import project_parser

    return project_parser("openrlhf_weakness.cli.train_apt")


@cli_entry
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    apt_parser = _apt_parser()
    known, rest = apt_parser.parse_known_args(argv)
    from openrlhf_weakness import openrlhf_cli

    if "-h" in rest or "--help" in rest:
        print(__doc__)
        apt_parser.print_help()
        print(f"\nOpenRLHF flags ({OPENRLHF_MODULE}):")
        apply_patches("train_apt")
        openrlhf_cli.run(OPENRLHF_MODULE, rest)
        return
    from openrlhf_weakness.apt.config import APTTrainConfig
    from openrlhf_weakness.data.validate import local_files, validate_pairs_file
    from openrlhf_weakness.io import DataError

    apt = from_namespace(APTTrainConfig, nested(known).apt)
    apply_patches("train_apt")
    args = openrlhf_cli.parse_args(OPENRLHF_MODULE, rest)  # OpenRLHF's parser: its errors for unknown flags
    try:
        for path in local_files(args.data.dataset):
            validate_pairs_file(
                path,
                args.data.chosen_key,
                args.data.prompt_key,
                apt.weight_key,
                args.data.rejected_key,
                bool(args.data.apply_chat_template),
            )
    except DataError as err:
        raise CliError("train_apt", f"bad training data: {err}")
    install_apt_components(apt)
    openrlhf_cli.run(OPENRLHF_MODULE, rest)


def install_apt_components(apt) -> None:
    """Make OpenRLHF's train_dpo build APT's trainer and dataset (the CPU patches must be applied first)."""
    import openrlhf.datasets
    import openrlhf.trainer.dpo_trainer

    from openrlhf_weakness.apt.dataset import APTRewardDataset
    from openrlhf_weakness.apt.trainer import APTTrainer

    openrlhf.trainer.dpo_trainer.DPOTrainer = functools.partial(APTTrainer, apt=apt)
    openrlhf.datasets.RewardDataset = functools.partial(APTRewardDataset, apt=apt)


if __name__ == "__main__":
    main()
