"""Answer every prompt of a JSON Lines file with a model: ``--gen.backend hf|vllm|openai``.

    python -m openrlhf_weakness.cli.generate --data.dataset in.jsonl --data.output out.jsonl \\
        --gen.backend hf --gen.model ./model --gen.max_new_tokens 256

Each output row is the input row plus ``--data.output_key`` (the first answer) and, with ``--gen.n`` > 1,
``<output_key>s`` (all answers). Answers are cached as they arrive: rerunning after an interruption resumes.
"""

from __future__ import annotations

import argparse
import sys
import time

from openrlhf_weakness.config import add_flags, from_namespace


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.backends.config import GenerationConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--data.dataset", required=True, help="input JSON Lines")
    parser.add_argument("--data.output", required=True, help="output JSON Lines (written atomically)")
    parser.add_argument("--data.input_key", default="prompt", help="key of the prompt (a string or chat messages)")
    parser.add_argument("--data.output_key", default="response", help="key the answer is written to")
    parser.add_argument("--data.max_samples", type=int, default=None, help="answer only the first N rows")
    parser.add_argument("--data.skip_bad_rows_enable", action="store_true", help="count and skip malformed rows")
    add_flags(parser, GenerationConfig, "gen")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from openrlhf_weakness.backends.cache import open_cache
    from openrlhf_weakness.backends.config import GenerationConfig, SamplingParams
    from openrlhf_weakness.backends.driver import generate_all, make_backend
    from openrlhf_weakness.io import DataError, load_rows, write_jsonl

    gen = from_namespace(GenerationConfig, args, "gen")
    key, out_key = getattr(args, "data.input_key"), getattr(args, "data.output_key")
    try:
        rows, skipped = load_rows(getattr(args, "data.dataset"), [key], getattr(args, "data.skip_bad_rows_enable"))
    except DataError as err:
        raise SystemExit(f"generate: {err}")
    rows = rows[: getattr(args, "data.max_samples")] if getattr(args, "data.max_samples") else rows
    if not rows:
        raise SystemExit(f"generate: {getattr(args, 'data.dataset')}: no rows to answer")
    start = time.time()
    backend = make_backend(gen)
    cache = open_cache(gen)
    params = SamplingParams.from_config(gen)
    answers, hits = generate_all(backend, [row[key] for _, row in rows], params, cache)
    out = []
    for (_, row), got in zip(rows, answers):
        row = dict(row, **{out_key: got[0]})
        if params.n > 1:
            row[out_key + "s"] = got
        out.append(row)
    write_jsonl(getattr(args, "data.output"), out)
    lengths = [len(a[0]) for a in answers]
    print(
        f"generate: {len(out)} prompts answered ({hits} from cache) in {time.time() - start:.1f} s; "
        f"mean answer {sum(lengths) / len(lengths):.0f} chars; skipped rows: {len(skipped)}"
    )
    for reason in skipped[:10]:
        print(f"  skipped: {reason}")
    print(f"wrote {getattr(args, 'data.output')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
