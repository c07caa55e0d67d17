"""Score every (prompt, response, reference) row 1..5 with an assessor.

    python -m openrlhf_weakness.cli.assess --data.dataset answers.jsonl --data.output scored.jsonl \\
        --assess.assessor math --assess.bad_below 4

The input is anything OpenRLHF's ``--data.dataset`` takes (JSON Lines, JSON, CSV, Parquet, a folder saved by
``datasets``, a hub name). Each output row is the input row plus ``score`` (1..5, or null when the assessor could not decide: a counted skip),
``feedback`` and ``bad`` (score < --assess.bad_below). A summary (histogram, bad-case rate, per datasource) is
printed and written next to the output as ``<output>.summary.json``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, add_renamed_flag, flag, from_namespace, nested


@dataclass
class AssessData:
    """Input and output files."""

    dataset: str | None = flag(
        None, "input rows with prompt, answer and reference (a file, folder or hub name)", required=True
    )
    output: str | None = flag(None, "output JSON Lines (written atomically)", required=True)


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.data.keys import DataKeys

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.assess", description=__doc__.splitlines()[0])
    add_flags(parser, AssessData, "data")
    add_flags(parser, DataKeys, "data")
    add_renamed_flag(parser, "--data.response_key", "--data.output_key")
    add_flags(parser, AssessConfig, "assess")
    add_flags(parser, RoleConfig, "judge")  # the judge model, for --assess.assessor judge
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from openrlhf_weakness.assess.answer import assess_rows
    from openrlhf_weakness.assess.config import AssessConfig, make_assessor
    from openrlhf_weakness.assess.sandbox_tool import SandboxUnavailable
    from openrlhf_weakness.assess.summary import format_summary, summarize
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.backends.openai_compat import OpenAIServerError
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.io import DataError, load_rows, write_json, write_jsonl
    from openrlhf_weakness.io.rows import row_unit

    cfg, gen = from_namespace(AssessConfig, args.assess), from_namespace(RoleConfig, args.judge)
    data, keys = from_namespace(AssessData, args.data), from_namespace(DataKeys, args.data)
    row_keys = keys.row_keys()
    path = data.dataset
    try:
        rows, skipped = load_rows(
            path, [row_keys.input, row_keys.response, row_keys.reference], cfg.skip_bad_rows_enable, allow_empty=False
        )
        for number, row in rows:
            if not isinstance(row[row_keys.response], str):
                got = type(row[row_keys.response]).__name__
                raise DataError(path, number, f"must be a string, got {got}", row_keys.response, row_unit(path))
    except (DataError, OSError) as err:  # OSError: a missing or unreadable input file
        raise CliError("assess", err)
    try:
        if cfg.assessor == "judge":
            from openrlhf_weakness.backends.openai_compat import check_servers

            check_servers({"--judge": gen})
        assessor = make_assessor(cfg, gen)
    except (SettingsError, SandboxUnavailable, OpenAIServerError) as err:
        raise CliError("assess", err)
    try:
        out = assess_rows(assessor, [row for _, row in rows], row_keys, cfg.bad_below, f"assess ({cfg.assessor})")
    except OpenAIServerError as err:  # the judge's server failed mid-stage (retries exhausted, a refusal)
        from openrlhf_weakness.backends.cache import DEFAULT_CACHE_DIR

        where = gen.cache_dir or DEFAULT_CACHE_DIR
        kept = "" if gen.no_cache_enable else f"; the replies received so far are cached in {where}: rerun to go on"
        raise CliError("assess", f"{err}{kept}") from None
    output = data.output
    write_jsonl(output, out)
    summary = summarize(
        [r["score"] for r in out], cfg.bad_below, [str(row.get(keys.datasource_key) or "") for _, row in rows]
    )
    summary["skipped_input_rows"] = len(skipped)
    summary["empty_responses"] = sum(1 for r in out if r["feedback"] == "empty response")
    if cfg.assessor == "code":  # rewards from tests that ran inside the sandbox (code_weak_tests accept)
        summary["weakly_verified"] = sum(1 for r in out if str(r["feedback"]).startswith("weakly verified"))
    report = getattr(assessor, "report", None)  # the LLM judge counts its parsed, retried and unparsed replies
    if report is not None:
        summary["judge_parse"] = report.as_dict()
    write_json(f"{output}.summary.json", summary)
    print(format_summary(summary))
    print(f"input rows skipped: {len(skipped)}; empty responses: {summary['empty_responses']}")
    if "weakly_verified" in summary:
        print(f"weakly verified (tests ran inside the sandbox): {summary['weakly_verified']}")
    if report is not None:
        print(report.line())
    for reason in skipped[:10]:
        print(f"  skipped: {reason}")
    print(f"wrote {output} and {output}.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
