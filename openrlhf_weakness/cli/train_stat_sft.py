"""STAT-Sel SFT: every flag of the installed ``openrlhf.cli.train_sft`` plus ``--stat.*``.

    deepspeed --module openrlhf_weakness.cli.train_stat_sft <train_sft flags> --stat.weight_key stat_weight

With ``--stat.weight_key`` (a per-row STAT-Sel weight, see ``openrlhf_weakness.stat.profile.sel_weights``) batches
are drawn by ``SkillWeightedSampler`` in proportion to the weights; a training file that is already a STAT-Sel draw
(repeats kept) trains as it is with ``--stat.weight_key ''``.
"""

from __future__ import annotations

import argparse
import functools
import sys

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import from_namespace, nested
from openrlhf_weakness.stat.config import StatSamplerConfig

OPENRLHF_MODULE = "openrlhf.cli.train_sft"


def _parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.training import project_parser

    return project_parser("openrlhf_weakness.cli.train_stat_sft")


@cli_entry
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    known, rest = _parser().parse_known_args(argv)
    from openrlhf_weakness import openrlhf_cli

    apply_patches("train_stat_sft")
    if "-h" in rest or "--help" in rest:
        print(__doc__)
        _parser().print_help()
        openrlhf_cli.run(OPENRLHF_MODULE, rest)
        return
    sampler = from_namespace(StatSamplerConfig, nested(known).stat)
    weight_key, total = sampler.weight_key, sampler.total
    args = openrlhf_cli.parse_args(OPENRLHF_MODULE, rest)
    from openrlhf_weakness.data.validate import local_files, validate_sft_file, validate_weights
    from openrlhf_weakness.io import DataError

    try:  # every row as OpenRLHF's SFTDataset will read it, before any model loads
        for path in local_files(args.data.dataset):
            validate_sft_file(path, args.data.input_key, args.data.output_key, bool(args.data.apply_chat_template))
            if weight_key:
                validate_weights(path, weight_key)
    except DataError as err:
        raise CliError("train_stat_sft", f"bad training data: {err}")
    if weight_key:
        install_sampler(weight_key, total)
    openrlhf_cli.run(OPENRLHF_MODULE, rest)


def install_sampler(weight_key: str, total: int) -> None:
    """Make train_sft's dataset keep the weights and its train dataloader draw with SkillWeightedSampler."""
    import openrlhf.datasets
    import torch.distributed as dist
    from openrlhf.utils.deepspeed import DeepspeedStrategy

    from openrlhf_weakness.stat.sampler import SkillWeightedSampler
    from openrlhf_weakness.stat.sft_dataset import StatSFTDataset

    openrlhf.datasets.SFTDataset = functools.partial(StatSFTDataset, weight_key=weight_key)
    real = DeepspeedStrategy.setup_dataloader

    def setup_dataloader(
        self,
        dataset,
        batch_size,
        pin_memory=False,
        shuffle=True,
        collate_fn=None,
        drop_last=True,
        sampler=None,
        consumed_samples=0,
        num_workers=0,
    ):
        if sampler is None and getattr(dataset, "stat_weights", None) is not None and shuffle:
            group = self.ds_device_mesh["dp"].get_group()
            sampler = SkillWeightedSampler(
                dataset,
                dataset.stat_weights,
                num_replicas=dist.get_world_size(group),
                rank=dist.get_rank(group),
                seed=self.seed,
                total=total or None,
                consumed_samples=consumed_samples,
            )
        return real(
            self,
            dataset,
            batch_size,
            pin_memory,
            shuffle,
            collate_fn,
            drop_last,
            sampler,
            consumed_samples,
            num_workers,
        )

    DeepspeedStrategy.setup_dataloader = setup_dataloader


if __name__ == "__main__":
    main()
