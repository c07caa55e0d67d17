"""The whole APT loop: answer, assess, mine, retrieve, pair, train (cli.train_apt), evaluate, repeat.

    python -m openrlhf_weakness.cli.apt --apt.model ./model --apt.run_dir runs/apt --apt.iterations 3 \\
        --data.train domain_train.jsonl --data.dev domain_dev.jsonl --data.guard general.jsonl --data.pool pool.jsonl \\
        --assess.assessor math --apt.train_args "--adam.lr 1e-6 --train.batch_size 32 --train.micro_batch_size 2"

Rerunning the same command resumes: finished stages are skipped, an interrupted one restarts cleanly. The run
directory holds a manifest, a folder per iteration with every stage's JSON Lines and the model, final.json and
report.md with plots.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.config import add_flags, from_namespace


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.apt.loop_config import LOOP_SETS_PAIRS, APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.apt", description=__doc__.splitlines()[0])
    parser.add_argument("--data.train", required=True, help="domain data with references (answered every iteration)")
    parser.add_argument("--data.dev", required=True, help="domain dev split (the stop rule's score)")
    parser.add_argument("--data.pool", required=True, help="retrieval pool with references")
    parser.add_argument("--data.guard", default=None, help="general-capability guard set with references")
    parser.add_argument("--data.test", default=None, help="held-out domain test split, scored for the report only")
    parser.add_argument("--data.ledger", default=None, help="weakness ledger (GRPO's failures) added to the first "
                        "iteration's bad cases")  # fmt: skip
    parser.add_argument("--data.input_key", default="prompt")
    parser.add_argument("--data.reference_key", default="reference")
    parser.add_argument("--data.datasource_key", default="datasource")
    add_flags(parser, APTLoopConfig, "apt")
    add_flags(parser, GenerationConfig, "gen")
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RetrieveConfig, "retrieve")
    add_flags(parser, PairsConfig, "pairs", exclude=LOOP_SETS_PAIRS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from openrlhf_weakness import patches
    from openrlhf_weakness.apt.loop import APTLoop, LoopData
    from openrlhf_weakness.apt.loop_config import APTLoopConfig
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.apt.run_dir import ConfigMismatch
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.io import RunDirBusy
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    patches.apply()
    cfg = from_namespace(APTLoopConfig, args, "apt")
    if not cfg.model:
        raise SystemExit("apt: --apt.model is required")
    if args.__dict__["assess.assessor"] == "judge":
        raise SystemExit("apt: the judge assessor is not wired into cli.apt yet (its --gen.* flags are the student's); "
                         "score with cli.assess and a judge, or use math, code or function here")  # fmt: skip
    data = LoopData(**{k: getattr(args, f"data.{k}") for k in LoopData.__dataclass_fields__})
    gen = from_namespace(GenerationConfig, args, "gen")
    try:
        loop = APTLoop(cfg, data, gen, from_namespace(AssessConfig, args, "assess"),
                       from_namespace(RetrieveConfig, args, "retrieve"), from_namespace(PairsConfig, args, "pairs"))  # fmt: skip
    except (ConfigMismatch, RunDirBusy) as err:
        raise SystemExit(f"apt: {err}")
    try:
        loop.run_loop()
    finally:
        loop.run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
