"""Build APT preference pairs from assessed bad cases and assessed similar cases.

    python -m openrlhf_weakness.cli.build_pairs --data.bad scored.jsonl --data.similar similar_scored.jsonl \\
        --data.output pairs.jsonl --data.iteration 0 --assess.bad_below 4

Inputs are anything OpenRLHF's ``--data.dataset`` takes (JSON Lines, JSON, CSV, Parquet, a folder saved by
``datasets``, a hub name). Bad case: chosen = reference, rejected = the model's response. Similar case: chosen = its reference; rejected = the
model's own answer when that answer is bad, else an SFT-only row (``--pairs.similar_good keep_sft``) or nothing.
The output trains with ``cli.train_apt --data.prompt_key prompt --apt.weight_key weight``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, fields

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, add_renamed_flag, flag, from_namespace, nested


@dataclass
class PairsData:
    """Input and output files."""

    bad: str | None = flag(None, "assessed domain rows (cli.assess output) or a weakness ledger", required=True)
    similar: str | None = flag(None, "assessed similar cases (retrieve -> generate -> assess)")
    output: str | None = flag(None, "the pairs (JSON Lines, written atomically)", required=True)
    score_key: str = flag("score", "key of the answer's score")
    bad_key: str = flag("bad", "boolean key marking bad cases in --data.bad")
    chat_template_enable: bool = flag(False, "write prompts and answers as chat message lists")
    iteration: int = flag(0, "iteration number written into every row")


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.apt.pairs import PairsConfig
    from openrlhf_weakness.assess.config import AssessConfig
    from openrlhf_weakness.data.keys import DataKeys

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.build_pairs", description=__doc__.splitlines()[0])
    add_flags(parser, PairsData, "data")
    add_flags(parser, DataKeys, "data", exclude=("datasource_key",))
    # no --pairs.samples here: the input rows carry the samples (responses/scores) that the options choose from
    add_flags(parser, PairsConfig, "pairs", exclude=("samples", "sample_temperature"))
    assess_only = tuple(f.name for f in fields(AssessConfig) if f.name != "bad_below")
    add_flags(parser, AssessConfig, "assess", exclude=assess_only)  # what makes a similar case's answer bad
    for old, new in (
        ("--data.response_key", "--data.output_key"),
        ("--pairs.bad_below", "--assess.bad_below"),
        ("--pairs.iteration", "--data.iteration"),
    ):
        add_renamed_flag(parser, old, new)
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from openrlhf_weakness.apt.pairs import PairsConfig, build_pairs
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.io import DataError, load_rows, write_jsonl
    from openrlhf_weakness.io.rows import row_unit

    cfg, data = from_namespace(PairsConfig, args.pairs), from_namespace(PairsData, args.data)
    columns = from_namespace(DataKeys, args.data)
    keys = {
        "prompt": columns.input_key,
        "reference": columns.reference_key,
        "response": columns.output_key,
        "score": data.score_key,
    }
    try:
        bad_rows, _ = load_rows(data.bad, [keys["prompt"], keys["reference"]], allow_empty=False)
        bad_key = data.bad_key
        if not any(bad_key in row for _, row in bad_rows):  # a weakness ledger: every row is a failure
            bad_rows = [(line, dict(row, **{bad_key: True})) for line, row in bad_rows]
        bad = [row for _, row in bad_rows if row.get(bad_key)]
        for line, row in bad_rows:
            if row.get(bad_key) and row.get(keys["response"]) is None:
                why = "missing (a bad case needs the model's answer)"
                raise DataError(data.bad, line, why, keys["response"], row_unit(data.bad))
        similar = []
        if data.similar:
            need = [keys["prompt"], keys["reference"]]
            if cfg.similar_rejected == "self":
                need += [keys["response"], keys["score"]]
            similar = [row for _, row in load_rows(data.similar, need)[0]]
    except (DataError, OSError) as err:
        raise CliError("build_pairs", err)
    bad_below, iteration = args.assess.bad_below, data.iteration
    rows, counts = build_pairs(
        bad, similar, cfg, keys, data.chat_template_enable, bad_below=bad_below, iteration=iteration
    )
    write_jsonl(data.output, rows)
    print(
        f"build_pairs: {len(rows)} rows from {len(bad)} bad cases and {len(similar)} similar cases: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    )
    print(f"wrote {data.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
