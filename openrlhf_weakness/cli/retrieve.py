"""Retrieve cases similar to the bad cases from a large pool (APT's tag-based similarity, with faiss).

    python -m openrlhf_weakness.cli.retrieve --data.bad scored.jsonl --data.pool pool.jsonl \\
        --data.output similar.jsonl --retrieve.tagger field --retrieve.tag_key datasource --retrieve.scale 1.0

Inputs are anything OpenRLHF's ``--data.dataset`` takes (JSON Lines, JSON, CSV, Parquet, a folder saved by
``datasets``, a hub name). Bad cases are the rows of ``--data.bad`` whose ``--data.bad_key`` is true (all rows when the key is absent, e.g. a
weakness ledger). Each output row is a pool row plus ``source`` = similar, ``similarity``, ``retrieved_for`` (line
numbers of the bad cases), ``tags``, ``via_tag`` and ``pool_line``. A summary is printed and written beside it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, flag, from_namespace, nested


@dataclass
class RetrieveData:
    """Input and output files."""

    bad: str | None = flag(None, "assessed domain rows (cli.assess output) or a ledger", required=True)
    pool: str | None = flag(None, "the large pool to retrieve from (a file, folder or hub name)", required=True)
    output: str | None = flag(None, "retrieved similar cases (JSON Lines)", required=True)
    pool_input_key: str | None = flag(None, "text of a pool row (default: --data.input_key)")
    bad_key: str = flag("bad", "boolean key marking bad cases")
    eval_files: str | None = flag(
        None, "comma-separated evaluation files to decontaminate against (their --data.input_key texts)"
    )


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.retrieve", description=__doc__.splitlines()[0])
    add_flags(parser, RetrieveData, "data")
    add_flags(parser, DataKeys, "data", exclude=("output_key", "reference_key", "datasource_key"))
    add_flags(parser, RetrieveConfig, "retrieve")
    add_flags(parser, RoleConfig, "tagger")  # the tagging model, for --retrieve.tagger llm
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from openrlhf_weakness.backends.config import RoleConfig
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.io import DataError, write_json, write_jsonl
    from openrlhf_weakness.retrieve.config import RetrieveConfig
    from openrlhf_weakness.retrieve.stage import RetrieveError, RetrieveInputs, load_texts, retrieve_similar

    cfg, data = from_namespace(RetrieveConfig, args.retrieve), from_namespace(RetrieveData, args.data)
    key, bad_key, bad_path = from_namespace(DataKeys, args.data).input_key, data.bad_key, data.bad
    try:
        bad_lines, bad_rows, _ = load_texts(bad_path, key)
        eval_texts = []
        for path in filter(None, (data.eval_files or "").split(",")):
            eval_texts += load_texts(path.strip(), key)[2]
        if any(bad_key in row for row in bad_rows):
            keep = [i for i, row in enumerate(bad_rows) if row.get(bad_key)]
            bad_lines, bad_rows = [bad_lines[i] for i in keep], [bad_rows[i] for i in keep]
        inputs = RetrieveInputs(bad_rows, data.pool, key, data.pool_input_key, bad_lines, eval_texts, source=bad_path)
        out, summary = retrieve_similar(inputs, cfg, from_namespace(RoleConfig, args.tagger))
    except (DataError, RetrieveError, OSError) as err:
        raise CliError("retrieve", err)
    output = data.output
    write_jsonl(output, out)
    write_json(f"{output}.summary.json", summary)
    if not bad_rows:
        print("retrieve: no bad cases: nothing to retrieve")
    print(
        f"retrieve: {len(out)} similar cases for {len(bad_rows)} bad cases from a pool of {summary['pool']}; "
        f"mean similarity {summary['mean_similarity'] or 0:.3f}"
    )
    if "tagger_parse" in summary:
        from openrlhf_weakness.backends.parsed import ParseReport

        print("  " + ParseReport(**summary["tagger_parse"]).line())
    print("  hits per tag: " + ", ".join(f"{t}: {n}" for t, n in list(summary["hits_per_tag"].items())[:15]))
    print("  counts: " + (", ".join(f"{k}: {v}" for k, v in sorted(summary["counts"].items())) or "none"))
    print(f"wrote {output} and {output}.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
