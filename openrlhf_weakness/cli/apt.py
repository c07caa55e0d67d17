"""The whole APT loop: answer, assess, mine, retrieve, pair, train (cli.train_apt), evaluate, repeat.

    python -m openrlhf_weakness.cli.apt --loop.model ./model --loop.run_dir runs/apt --loop.iterations 3 \\
        --data.train train.jsonl --data.dev dev.jsonl --data.guard general.jsonl --data.pool pool.jsonl \\
        --assess.assessor math -- --adam.lr 1e-6 --train.batch_size 32 --train.micro_batch_size 2

Everything after ``--`` is a cli.train_apt flag (OpenRLHF's train_dpo flags plus ``--apt.*``), checked by their own
parsers before any work starts. Rerunning resumes: each stage's artifact is kept under a signature of the settings
and inputs it depends on, so a rerun reuses what still holds and recomputes a changed stage and every stage after it
(manifest.json and final.json say which and why). The run directory holds a folder per iteration with every stage's
JSON Lines and the model, final.json and report.md with plots.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.apt.loop import LoopData
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    parser = argparse.ArgumentParser(
        prog="openrlhf_weakness.cli.apt",
        description=__doc__.splitlines()[0],
        usage="%(prog)s [loop flags] -- [cli.train_apt flags]",
    )
    add_flags(parser, LoopData, "data")
    add_flags(parser, DataKeys, "data", exclude=("output_key",))
    add_flags(parser, APTLoopConfig, "loop")
    add_flags(parser, GenerationConfig, "gen")  # the student
    add_flags(parser, RoleConfig, "judge")  # the LLM judge, for --assess.assessor judge
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RetrieveConfig, "retrieve")
    add_flags(parser, PairsConfig, "pairs")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = nested(build_parser().parse_args(argv[:split]))
    from dataclasses import replace

    from openrlhf_weakness.apt.loop import APTLoop, LoopData, LoopError, training_plan
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.assess.scoring import ScoringError
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.backends.openai_compat import OpenAIServerError
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.io import DataError, RunDirBusy
    from openrlhf_weakness.retrieve.config import RetrieveConfig
    from openrlhf_weakness.retrieve.stage import RetrieveError

    apply_patches("apt")
    cfg = replace(from_namespace(APTLoopConfig, args.loop), train_args=argv[split + 1 :])
    errors = (LoopError, DataError, RunDirBusy, ScoringError, RetrieveError, SettingsError)
    try:  # the training flags are parsed now, so a typo fails before the first round of generation
        plan = training_plan(cfg.train_args)
        student, judge = from_namespace(GenerationConfig, args.gen), from_namespace(RoleConfig, args.judge)
        loop = APTLoop(
            cfg,
            replace(from_namespace(LoopData, args.data), keys=from_namespace(DataKeys, args.data)),
            student,
            from_namespace(AssessConfig, args.assess),
            from_namespace(RetrieveConfig, args.retrieve),
            from_namespace(PairsConfig, args.pairs),
            judge,
            plan,
        )
    except errors as err:
        raise CliError("apt", err) from None
    try:
        loop.run_loop()
    except errors as err:  # files, rows, keys and settings found bad when a stage starts
        raise CliError("apt", err) from None
    except OpenAIServerError as err:  # a student or judge server failed mid-stage
        raise CliError("apt", f"{err}{err.RESUME_HINT}") from None
    finally:
        loop.runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
