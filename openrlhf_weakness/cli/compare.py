"""Does APT or STAT-Sel make *your* model better than the same training budget spent on plain SFT?

    python -m openrlhf_weakness.cli.compare --gen.model ./model --data.train train.jsonl --data.pool pool.jsonl \\
        --data.dev dev.jsonl --data.test test.jsonl --data.guard general.jsonl --assess.assessor math \\
        --compare.arms apt,sft_same_budget --compare.seeds 3 --compare.work_dir runs/compare \\
        -- --adam.lr 1e-6 --train.batch_size 32 --train.micro_batch_size 2

Every arm trains from ``--gen.model`` with the training flags after ``--`` (OpenRLHF's, plus ``--apt.*`` for APT's
arms); each sets its own model, data and output. Every final model is scored with your ``--gen.*`` and
``--assess.*`` on dev, guard and test. Results per (arm, seed) are written as they finish, so a rerun resumes; a
failed arm is reported with its log while the others go on. Output: summary.json with a markdown table, a plot and
per-question scores (summary.scores.jsonl.gz) beside it. ``--compare.preset controlled|real`` builds the quality
experiment's data and student and fills the flags you leave out.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested

PROG = "compare"


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.experiment.arms import ARMS
    from openrlhf_weakness.experiment.config import CompareConfig, ExperimentData
    from openrlhf_weakness.retrieve.config import RetrieveConfig
    from openrlhf_weakness.stat.config import StatConfig

    arms = "; ".join(f"{a.name}: {a.help}" for a in ARMS.values())
    parser = argparse.ArgumentParser(
        prog="openrlhf_weakness.cli.compare",
        description=__doc__.splitlines()[0],
        usage="%(prog)s [flags] -- [training flags shared by every arm]",
        epilog=f"Arms: {arms}.",
    )
    add_flags(parser, CompareConfig, "compare")
    add_flags(parser, ExperimentData, "data")
    add_flags(parser, DataKeys, "data", defaults={"output_key": ""})  # no output key: SFT on the reference as text
    add_flags(parser, GenerationConfig, "gen")  # the student: --gen.model is the model every arm starts from
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RoleConfig, "judge")  # the LLM judge, for --assess.assessor judge
    add_flags(parser, RoleConfig, "teacher")  # STAT's teacher, when --stat.skill_key does not name the skills
    add_flags(parser, RetrieveConfig, "retrieve")
    add_flags(parser, PairsConfig, "pairs")
    add_flags(parser, APTLoopConfig, "loop", exclude=("model", "run_dir"))
    add_flags(parser, StatConfig, "stat", exclude=("run_dir", "seed"))
    return parser


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    cut = argv.index("--") if "--" in argv else len(argv)
    return argv[:cut], argv[cut + 1 :]


def preset_argv(flags: list[str], training: list[str]) -> tuple[list[str], list[str]]:
    """With ``--compare.preset``: the preset's flags (before and after ``--``) followed by the user's, which come
    last and so win; without it, the user's as given."""
    from openrlhf_weakness.experiment.config import CompareConfig

    parser = argparse.ArgumentParser(add_help=False)
    add_flags(parser, CompareConfig, "compare")
    known, _ = parser.parse_known_args(flags)
    compare = from_namespace(CompareConfig, nested(known).compare)
    if not compare.preset:
        return flags, training
    from openrlhf_weakness.demo.student import StudentMissing
    from openrlhf_weakness.experiment.controlled import DomainError
    from openrlhf_weakness.experiment.presets import build_preset

    try:
        preset_flags, preset_training = build_preset(compare.preset, compare)
    except (StudentMissing, DomainError) as err:
        raise CliError(PROG, err) from None
    return preset_flags + flags, preset_training + training


def build_context(argv: list[str]):
    """Parse (and, for a preset, build its data and student), check every flag and data file: the context."""
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.experiment.arms import parse_arms
    from openrlhf_weakness.experiment.config import CompareConfig, ExperimentError, experiment_data
    from openrlhf_weakness.experiment.context import ExperimentContext
    from openrlhf_weakness.experiment.plans import parse_shared
    from openrlhf_weakness.retrieve.config import RetrieveConfig
    from openrlhf_weakness.stat.config import StatConfig
    from openrlhf_weakness.training import TrainingPlanError

    flags, training = split_argv(argv)
    parser = build_parser()
    compare = from_namespace(CompareConfig, nested(parser.parse_args(flags)).compare)  # usage errors before work
    try:
        arms = parse_arms(compare.arms)
    except ExperimentError as err:
        raise CliError(PROG, err) from None
    apply_patches(PROG)
    flags, training = preset_argv(flags, training)
    args = nested(parser.parse_args(flags))
    try:
        plan = parse_shared(training)
    except TrainingPlanError as err:
        raise CliError(PROG, err) from None
    gen = from_namespace(GenerationConfig, args.gen)
    data = experiment_data(args.data)
    if not gen.model:
        raise CliError(PROG, "--gen.model is required (the student every arm starts from), or --compare.preset")
    if not data.dev:
        raise CliError(PROG, "--data.dev is required (APT's stop rule, STAT's profile)")
    ctx = ExperimentContext(
        model=gen.model,
        data=data,
        compare=from_namespace(CompareConfig, args.compare),
        plan=plan,
        gen=gen,
        assess=from_namespace(AssessConfig, args.assess),
        judge=from_namespace(RoleConfig, args.judge) if args.judge.model else None,
        teacher=from_namespace(RoleConfig, args.teacher),
        retrieve=from_namespace(RetrieveConfig, args.retrieve),
        pairs=from_namespace(PairsConfig, args.pairs),
        loop=from_namespace(APTLoopConfig, args.loop),
        stat=from_namespace(StatConfig, args.stat),
    )
    try:
        for split in ctx.splits():
            ctx.rows(split)
        for split in ("train", "pool"):
            if getattr(data, split):
                ctx.rows(split)
    except ExperimentError as err:
        raise CliError(PROG, err) from None
    return ctx, arms


@cli_entry
def main(argv: list[str] | None = None) -> int:
    from openrlhf_weakness.experiment.cells import register, run_experiment, write_outputs
    from openrlhf_weakness.experiment.config import ExperimentError

    argv = sys.argv[1:] if argv is None else list(argv)
    ctx, arms = build_context(argv)
    if ctx.compare.register:
        try:
            digest = register(ctx, arms)
        except ExperimentError as err:
            raise CliError(PROG, err) from None
        print(
            f"registered: {ctx.compare.preregistration} (sha256 {digest}). Commit it, then run the same command "
            "without --compare.register to train and score test once."
        )
        return 0
    try:
        base, results = run_experiment(ctx, arms)
    except ExperimentError as err:
        raise CliError(PROG, err) from None
    try:
        summary, table, out = write_outputs(ctx, base, results)
    except ExperimentError as err:
        raise CliError(PROG, err) from None
    print("\n" + table)
    for r in results:
        if r["status"] != "done":
            print(
                f"{r['arm']} seed {r['seed']} FAILED: {r['error']}\n  log: {r['log']}\n  "
                + r["tail"].replace("\n", "\n  ")
            )
    print(
        f"summary: {out} (table {out.with_suffix('.md')}, plot {out.with_suffix('.png')}, per-question scores "
        f"{out.with_name(out.stem + '.scores.jsonl.gz')})"
    )
    return 1 if any(r["status"] != "done" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
