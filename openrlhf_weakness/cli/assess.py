"""Score every (prompt, response, reference) of a JSON Lines file 1..5 with an assessor.

    python -m openrlhf_weakness.cli.assess --data.dataset answers.jsonl --data.output scored.jsonl \\
        --assess.assessor math --assess.bad_below 4

Each output row is the input row plus ``score`` (1..5, or null when the assessor could not decide: a counted skip),
``feedback`` and ``bad`` (score < --assess.bad_below). A summary (histogram, bad-case rate, per datasource) is
printed and written next to the output as ``<output>.summary.json``.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.config import add_flags, from_namespace


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import GenerationConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.assess", description=__doc__.splitlines()[0])
    parser.add_argument("--data.dataset", required=True, help="input JSON Lines with prompt, response, reference")
    parser.add_argument("--data.output", required=True, help="output JSON Lines (written atomically)")
    parser.add_argument("--data.input_key", default="prompt")
    parser.add_argument("--data.response_key", default="response")
    parser.add_argument("--data.reference_key", default="reference", help="reference answer / unit tests (label)")
    parser.add_argument("--data.datasource_key", default="datasource", help="key for per-category summaries")
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, GenerationConfig, "gen")  # the judge model, for --assess.assessor judge
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from openrlhf_weakness.assess.answer import RowKeys, assess_rows
    from openrlhf_weakness.assess.config import AssessConfig, make_assessor
    from openrlhf_weakness.assess.summary import format_summary, summarize
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.io import DataError, load_rows, write_json, write_jsonl

    cfg = from_namespace(AssessConfig, args, "assess")
    gen = from_namespace(GenerationConfig, args, "gen")
    keys = [getattr(args, f"data.{k}_key") for k in ("input", "response", "reference")]
    source_key = getattr(args, "data.datasource_key")
    path = getattr(args, "data.dataset")
    try:
        rows, skipped = load_rows(path, keys, cfg.skip_bad_rows_enable, allow_empty=False)
        for lineno, row in rows:
            if not isinstance(row[keys[1]], str):
                raise DataError(path, lineno, f"must be a string, got {type(row[keys[1]]).__name__}", keys[1])
        assessor = make_assessor(cfg, gen)
    except (DataError, ValueError) as err:
        raise SystemExit(f"assess: {err}")
    row_keys = RowKeys(input=keys[0], reference=keys[2], response=keys[1])
    out = assess_rows(assessor, [row for _, row in rows], row_keys, cfg.bad_below, f"assess ({cfg.assessor})")
    output = getattr(args, "data.output")
    write_jsonl(output, out)
    summary = summarize([r["score"] for r in out], cfg.bad_below, [str(row.get(source_key) or "") for _, row in rows])
    summary["skipped_input_rows"] = len(skipped)
    summary["empty_responses"] = sum(1 for r in out if r["feedback"] == "empty response")
    write_json(f"{output}.summary.json", summary)
    print(format_summary(summary))
    print(f"input rows skipped: {len(skipped)}; empty responses: {summary['empty_responses']}")
    for reason in skipped[:10]:
        print(f"  skipped: {reason}")
    print(f"wrote {output} and {output}.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
