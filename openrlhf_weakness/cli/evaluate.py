"""Score existing models on dev, test and guard without training, through the same scoring as ``cli.compare``.

    python -m openrlhf_weakness.cli.evaluate --eval.models ./base,./tuned --data.dev dev.jsonl \\
        --data.test test.jsonl --data.guard general.jsonl --assess.assessor math --gen.max_new_tokens 512

Per model, the mean score in [0, 1] ((score - 1) / 4 of the assessor's 1..5) on each split is printed as a table and
written to ``--eval.work_dir``: evaluate.json, evaluate.md and per-question scores (evaluate.scores.jsonl.gz).
Results per model are kept, so a rerun scores only models it has not scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openrlhf_weakness.cli import CliError, apply_patches, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested

PROG = "evaluate"


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.experiment.config import EvalConfig, ExperimentData

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.evaluate", description=__doc__.splitlines()[0])
    group = parser.add_argument_group("--eval.*", EvalConfig.__doc__)
    group.add_argument(
        "--eval.models", action="append", required=True, help="models to score (comma-separated or repeated)"
    )
    add_flags(parser, EvalConfig, "eval")
    add_flags(parser, ExperimentData, "data", exclude=("train", "pool"))
    add_flags(parser, DataKeys, "data", exclude=("output_key",))
    add_flags(parser, GenerationConfig, "gen", exclude=("model",))
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RoleConfig, "judge")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig, RoleConfig
    from openrlhf_weakness.experiment.cells import run_cell
    from openrlhf_weakness.experiment.config import CompareConfig, EvalConfig, ExperimentError, experiment_data
    from openrlhf_weakness.experiment.context import ExperimentContext
    from openrlhf_weakness.experiment.summary import per_model_table, write_scores, write_text
    from openrlhf_weakness.io import write_json

    args = nested(build_parser().parse_args(argv))
    models = [m.strip() for text in args.eval.models for m in text.split(",") if m.strip()]
    cfg = from_namespace(EvalConfig, args.eval)
    data = experiment_data(args.data)
    if not (data.dev or data.test or data.guard):
        raise CliError(PROG, "name at least one of --data.dev, --data.test, --data.guard")
    apply_patches(PROG)
    ctx = ExperimentContext(
        model=models[0],
        data=data,
        compare=CompareConfig(work_dir=cfg.work_dir, seeds=1),
        plan=None,
        gen=from_namespace(GenerationConfig, args.gen),
        assess=from_namespace(AssessConfig, args.assess),
        judge=from_namespace(RoleConfig, args.judge) if args.judge.model else None,
    )
    try:
        rows = {split: ctx.rows(split) for split in ctx.splits()}
    except ExperimentError as err:
        raise CliError(PROG, err) from None
    results = [run_cell(ctx, model, 0, lambda model=model: (model, {})) for model in models]
    splits = tuple(rows)
    work = Path(cfg.work_dir)
    table = per_model_table(results, splits)
    summary = {
        r["arm"]: (
            {s: {"score": sum(r["scores"][s]) / len(r["scores"][s]), "n": len(r["scores"][s])} for s in splits}
            if r["status"] == "done"
            else {"failed": r["error"], "log": r["log"]}
        )
        for r in results
    }
    write_json(work / "evaluate.json", summary)
    write_text(work / "evaluate.md", table)
    write_scores(work / "evaluate.scores.jsonl.gz", rows, results, data.keys.datasource_key)
    print("\n" + table)
    print(f"results: {work / 'evaluate.json'} (per-question scores: {work / 'evaluate.scores.jsonl.gz'})")
    return 1 if any(r["status"] != "done" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
