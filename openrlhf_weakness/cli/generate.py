"""Answer every prompt of a dataset with a model: ``--gen.backend hf|vllm|openai``.

    python -m openrlhf_weakness.cli.generate --data.dataset in.jsonl --data.output out.jsonl \\
        --gen.backend hf --gen.model ./model --gen.max_new_tokens 256

The input is anything OpenRLHF's ``--data.dataset`` takes (JSON Lines, JSON, CSV, Parquet, a folder saved by
``datasets``, a hub name). Each output row is the input row plus ``--data.output_key`` (the first answer) and, with ``--gen.n`` > 1,
``<output_key>s`` (all answers). Answers are cached as they arrive: rerunning after an interruption resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, flag, from_namespace, nested


@dataclass
class GenerateData:
    """Input and output files."""

    dataset: str | None = flag(None, "input rows (a file, folder or hub name)", required=True)
    output: str | None = flag(None, "output JSON Lines (written atomically)", required=True)
    max_samples: int | None = flag(None, "answer only the first N rows")
    skip_bad_rows_enable: bool = flag(False, "count and skip malformed rows")


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.data.keys import DataKeys

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.generate", description=__doc__.splitlines()[0])
    add_flags(parser, GenerateData, "data")
    add_flags(parser, DataKeys, "data", exclude=("reference_key", "datasource_key"))
    add_flags(parser, GenerationConfig, "gen")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = nested(build_parser().parse_args(argv))
    from openrlhf_weakness.backends.cache import open_cache
    from openrlhf_weakness.backends.config import GenerationConfig, SamplingParams
    from openrlhf_weakness.backends.driver import generate_all, make_backend
    from openrlhf_weakness.data.keys import DataKeys
    from openrlhf_weakness.errors import SettingsError
    from openrlhf_weakness.io import DataError, load_rows, write_jsonl

    gen, data = from_namespace(GenerationConfig, args.gen), from_namespace(GenerateData, args.data)
    keys = from_namespace(DataKeys, args.data)
    key, out_key = keys.input_key, keys.output_key
    try:
        rows, skipped = load_rows(data.dataset, [key], data.skip_bad_rows_enable)
    except (DataError, OSError) as err:
        raise CliError("generate", err)
    rows = rows[: data.max_samples] if data.max_samples else rows
    if not rows:
        raise CliError("generate", f"{data.dataset}: no rows to answer")
    start = time.time()
    try:
        backend = make_backend(gen)
    except SettingsError as err:
        raise CliError("generate", err)
    cache = open_cache(gen)
    params = SamplingParams.from_config(gen)
    answers, hits = generate_all(backend, [row[key] for _, row in rows], params, cache)
    out = []
    for (_, row), got in zip(rows, answers):
        row = dict(row, **{out_key: got[0]})
        if params.n > 1:
            row[out_key + "s"] = got
        out.append(row)
    write_jsonl(data.output, out)
    lengths = [len(a[0]) for a in answers]
    print(
        f"generate: {len(out)} prompts answered ({hits} from cache) in {time.time() - start:.1f} s; "
        f"mean answer {sum(lengths) / len(lengths):.0f} chars; skipped rows: {len(skipped)}"
    )
    for reason in skipped[:10]:
        print(f"  skipped: {reason}")
    print(f"wrote {data.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
