"""The STAT pipeline: skills, labels (skill map), difficult questions, Missing-Skill-Profile, STAT-Sel, STAT-Syn.

    python -m openrlhf_weakness.cli.stat --stat.run_dir runs/stat --data.train train.jsonl --data.dev dev.jsonl \\
        --gen.model ./student --teacher.backend openai --teacher.base_url http://127.0.0.1:8000/v1 \\
        --teacher.model teacher --assess.assessor math [--stat.syn_enable]

Train rows need ``--data.input_key`` (question) and ``--data.output_key`` (solution); dev rows the question and
``--data.reference_key``. Without a teacher, skills come from ``--stat.skill_key`` (e.g. the generator name) and a
difficult question misses its own skills. Every stage's artifact is kept under a signature of its settings and
inputs: a rerun reuses what still holds and recomputes what changed (``final.json`` and ``report.md`` say which and
why). Then: ``cli.train_stat_sft --data.dataset <run_dir>/stat_sel.jsonl`` (weighted sampler) or
``--data.dataset <run_dir>/stat_sel_draw.jsonl --stat.weight_key ''`` (materialised set), and GRPO.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.stat.config import STAT_KEY_DEFAULTS, StatConfig, StatData

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.stat", description=__doc__.splitlines()[0])
    add_flags(parser, StatData, "data")
    add_flags(parser, DataKeys, "data", exclude=("datasource_key",), defaults=STAT_KEY_DEFAULTS)
    add_flags(parser, StatConfig, "stat")
    add_flags(parser, GenerationConfig, "gen")  # the student
    add_flags(parser, RoleConfig, "teacher")
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RoleConfig, "judge")  # the LLM judge, for --assess.assessor judge
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from dataclasses import replace

    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.assess.scoring import ScoringError
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.io import DataError, RunDirBusy
    from openrlhf_weakness.stat.config import StatConfig, StatData
    from openrlhf_weakness.stat.pipeline import StatError, StatPipeline

    try:
        student, teacher = from_namespace(GenerationConfig, args.gen), from_namespace(RoleConfig, args.teacher)
        judge, assess = from_namespace(RoleConfig, args.judge), from_namespace(AssessConfig, args.assess)
        data = replace(from_namespace(StatData, args.data), keys=from_namespace(DataKeys, args.data))
        pipeline = StatPipeline(from_namespace(StatConfig, args.stat), data, student, teacher, assess, judge)
    except (RunDirBusy, StatError, SettingsError) as err:
        raise CliError("stat", err) from None
    from openrlhf_weakness.backends.openai_compat import OpenAIServerError

    try:
        pipeline.run()
    except (
        StatError,
        ScoringError,
        DataError,
        SettingsError,
    ) as err:  # files, rows, keys and settings found bad by a stage
        raise CliError("stat", err) from None
    except OpenAIServerError as err:  # a student, teacher or judge server failed mid-stage
        raise CliError("stat", f"{err}{err.RESUME_HINT}") from None
    finally:
        pipeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
