"""Build APT preference pairs from assessed bad cases and assessed similar cases.

    python -m openrlhf_weakness.cli.build_pairs --data.bad scored.jsonl --data.similar similar_scored.jsonl \\
        --data.output pairs.jsonl --pairs.iteration 0

Bad case: chosen = reference, rejected = the model's response. Similar case: chosen = its reference; rejected = the
model's own answer when that answer is bad, else an SFT-only row (``--pairs.similar_good keep_sft``) or nothing.
The output trains with ``cli.train_apt --data.prompt_key prompt --apt.weight_key weight``.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.config import add_flags, from_namespace


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.apt.pairs import PairsConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.build_pairs", description=__doc__.splitlines()[0])
    parser.add_argument("--data.bad", required=True, help="assessed domain rows (cli.assess output)")
    parser.add_argument("--data.similar", default=None, help="assessed similar cases (retrieve -> generate -> assess)")
    parser.add_argument("--data.output", required=True)
    parser.add_argument("--data.input_key", default="prompt")
    parser.add_argument("--data.reference_key", default="reference")
    parser.add_argument("--data.response_key", default="response")
    parser.add_argument("--data.score_key", default="score")
    parser.add_argument("--data.bad_key", default="bad", help="boolean key marking bad cases in --data.bad")
    parser.add_argument("--data.apply_chat_template", action="store_true", help="write chat message lists")
    add_flags(parser, PairsConfig, "pairs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from openrlhf_weakness.apt.pairs import PairsConfig, build_pairs
    from openrlhf_weakness.io import DataError, load_rows, write_jsonl

    cfg = from_namespace(PairsConfig, args, "pairs")
    keys = {
        k: getattr(args, f"data.{k if k != 'prompt' else 'input'}_key")
        for k in ("prompt", "reference", "response", "score")
    }
    try:
        bad_rows, _ = load_rows(getattr(args, "data.bad"), [keys["prompt"], keys["reference"]], allow_empty=False)
        bad_key = getattr(args, "data.bad_key")
        if not any(bad_key in row for _, row in bad_rows):  # a weakness ledger: every row is a failure
            bad_rows = [(line, dict(row, **{bad_key: True})) for line, row in bad_rows]
        bad = [row for _, row in bad_rows if row.get(bad_key)]
        for line, row in bad_rows:
            if row.get(bad_key) and row.get(keys["response"]) is None:
                raise DataError(getattr(args, "data.bad"), line, "missing (a bad case needs the model's answer)",
                                keys["response"])  # fmt: skip
        similar = []
        if getattr(args, "data.similar"):
            need = [keys["prompt"], keys["reference"]]
            if cfg.similar_rejected == "self":
                need += [keys["response"], keys["score"]]
            similar = [row for _, row in load_rows(getattr(args, "data.similar"), need)[0]]
    except DataError as err:
        raise SystemExit(f"build_pairs: {err}")
    rows, counts = build_pairs(bad, similar, cfg, keys, getattr(args, "data.apply_chat_template"))
    write_jsonl(getattr(args, "data.output"), rows)
    print(f"build_pairs: {len(rows)} rows from {len(bad)} bad cases and {len(similar)} similar cases: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))  # fmt: skip
    print(f"wrote {getattr(args, 'data.output')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
