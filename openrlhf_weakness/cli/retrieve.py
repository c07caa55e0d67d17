"""Retrieve cases similar to the bad cases from a large pool (APT's tag-based similarity, with faiss).

    python -m openrlhf_weakness.cli.retrieve --data.bad scored.jsonl --data.pool pool.jsonl \\
        --data.output similar.jsonl --retrieve.tagger field --retrieve.tag_key datasource --retrieve.scale 1.0

Bad cases are the rows of ``--data.bad`` whose ``--data.bad_key`` is true (all rows when the key is absent, e.g. a
weakness ledger). Each output row is a pool row plus ``source`` = similar, ``similarity``, ``retrieved_for`` (line
numbers of the bad cases), ``tags``, ``via_tag`` and ``pool_line``. A summary is printed and written beside it.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.config import add_flags, from_namespace


def build_parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.retrieve.config import RetrieveConfig

    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.retrieve", description=__doc__.splitlines()[0])
    parser.add_argument("--data.bad", required=True, help="assessed domain rows (cli.assess output) or a ledger")
    parser.add_argument("--data.pool", required=True, help="the large pool to retrieve from (JSON Lines)")
    parser.add_argument("--data.output", required=True, help="retrieved similar cases (JSON Lines)")
    parser.add_argument("--data.input_key", default="prompt", help="text of a bad case")
    parser.add_argument("--data.pool_input_key", default=None, help="text of a pool row (default: --data.input_key)")
    parser.add_argument("--data.bad_key", default="bad", help="boolean key marking bad cases")
    parser.add_argument("--data.eval_files", default=None, help="comma-separated evaluation files to decontaminate "
                        "against (their --data.input_key texts)")  # fmt: skip
    add_flags(parser, RetrieveConfig, "retrieve")
    add_flags(parser, GenerationConfig, "gen")  # the tagging model, for --retrieve.tagger llm
    return parser


def _load_texts(path: str, key: str) -> tuple[list[int], list[dict], list[str]]:
    from openrlhf_weakness.backends.base import message_text
    from openrlhf_weakness.io import load_rows

    rows, _ = load_rows(path, [key], allow_empty=False)
    return [line for line, _ in rows], [row for _, row in rows], [message_text(row[key]) for _, row in rows]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np

    from openrlhf_weakness.backends.config import GenerationConfig
    from openrlhf_weakness.io import DataError, write_json, write_jsonl
    from openrlhf_weakness.retrieve.config import RetrieveConfig
    from openrlhf_weakness.retrieve.decontaminate import Decontaminator
    from openrlhf_weakness.retrieve.embed import Embedder, embed_texts_cached, file_digest
    from openrlhf_weakness.retrieve.index import build_index
    from openrlhf_weakness.retrieve.select import SimilarCaseSelector
    from openrlhf_weakness.retrieve.tags import field_tags, kmeans_tags, llm_tags

    cfg = from_namespace(RetrieveConfig, args, "retrieve")
    key = getattr(args, "data.input_key")
    pool_key = getattr(args, "data.pool_input_key") or key
    bad_key, pool_path = getattr(args, "data.bad_key"), getattr(args, "data.pool")
    try:
        bad_lines, bad_rows, bad_texts = _load_texts(getattr(args, "data.bad"), key)
        pool_lines, pool_rows, pool_texts = _load_texts(pool_path, pool_key)
        eval_texts = []
        for path in filter(None, (getattr(args, "data.eval_files") or "").split(",")):
            eval_texts += _load_texts(path.strip(), key)[2]
    except DataError as err:
        raise SystemExit(f"retrieve: {err}")
    if any(bad_key in row for row in bad_rows):
        keep = [i for i, row in enumerate(bad_rows) if row.get(bad_key)]
        bad_lines, bad_rows, bad_texts = (
            [bad_lines[i] for i in keep],
            [bad_rows[i] for i in keep],
            [bad_texts[i] for i in keep],
        )
    if not pool_rows:
        raise SystemExit(f"retrieve: {pool_path}: the pool is empty")
    if not bad_rows:
        print("retrieve: no bad cases: nothing to retrieve")
        write_jsonl(getattr(args, "data.output"), [])
        return 0
    empty_bad = [line for line, text in zip(bad_lines, bad_texts) if not text.strip()]
    if empty_bad:
        raise SystemExit(f"retrieve: {getattr(args, 'data.bad')}, line {empty_bad[0]}, key '{key}': empty text")

    embedder = Embedder(cfg.embedder, cfg.batch_size)
    pool_vectors = embed_texts_cached(
        embedder, pool_texts, f"{file_digest(pool_path)}-{pool_key}", cfg.cache_dir, cfg.dtype
    )
    bad_vectors = embedder.encode(bad_texts)
    if cfg.tagger == "field":
        bad_tags, pool_tags = field_tags(bad_rows, cfg.tag_key), field_tags(pool_rows, cfg.tag_key)
    elif cfg.tagger == "kmeans":
        pool_tags, bad_tags = kmeans_tags(pool_vectors, bad_vectors, cfg.num_clusters)
    else:
        from openrlhf_weakness.backends.cache import ResponseCache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import make_backend

        gen = from_namespace(GenerationConfig, args, "gen")
        backend, cache = make_backend(gen), (None if gen.no_cache_enable else ResponseCache(gen.cache_dir))
        params = SamplingParams.from_config(gen)
        bad_tags, pool_tags = llm_tags(bad_texts, backend, params, cache), llm_tags(pool_texts, backend, params, cache)

    blocked = None
    if eval_texts:
        decontam = Decontaminator(eval_texts, cfg.decontam_ngram, cfg.decontam_threshold)
        blocked = ["contaminated" if decontam.contaminated(t) else None for t in pool_texts]
    index = build_index(pool_vectors, cfg.index, cfg.exact_max, nprobe=cfg.nprobe)
    selector = SimilarCaseSelector(pool_vectors, pool_tags, pool_texts, index, cfg.dedup_threshold, cfg.mmr_lambda,
                                   blocked=blocked)  # fmt: skip
    sel = selector.select(bad_vectors, bad_tags, bad_texts, cfg.scale, cfg.mode)

    out = []
    for pid in sel.pool_ids:
        out.append(dict(pool_rows[pid], source="similar", similarity=round(sel.similarity[pid], 6),
                        retrieved_for=sorted({bad_lines[i] for i in sel.retrieved_for[pid]}), tags=pool_tags[pid],
                        via_tag=sel.via_tag[pid], pool_line=pool_lines[pid]))  # fmt: skip
    output = getattr(args, "data.output")
    write_jsonl(output, out)
    sims = [sel.similarity[p] for p in sel.pool_ids]
    summary = {
        "bad_cases": len(bad_rows),
        "pool": len(pool_rows),
        "retrieved": len(out),
        "mean_similarity": float(np.mean(sims)) if sims else None,
        "hits_per_tag": dict(sel.hits_per_tag.most_common()),
        "counts": dict(sel.stats),
    }
    write_json(f"{output}.summary.json", summary)
    print(f"retrieve: {len(out)} similar cases for {len(bad_rows)} bad cases from a pool of {len(pool_rows)}; "
          f"mean similarity {summary['mean_similarity'] or 0:.3f}")  # fmt: skip
    print("  hits per tag: " + ", ".join(f"{t}: {n}" for t, n in list(sel.hits_per_tag.most_common())[:15]))
    print("  counts: " + (", ".join(f"{k}: {v}" for k, v in sorted(sel.stats.items())) or "none"))
    print(f"wrote {output} and {output}.summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
