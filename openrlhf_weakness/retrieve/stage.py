"""The retrieval stage as a library function: bad cases in, similar pool cases and a summary out.

``cli.retrieve`` and the APT loop both call :func:`retrieve_similar`, so a setting given to the loop reaches
retrieval as it is (decontamination files, the tagger's generation settings), never through a command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openrlhf_weakness.retrieve.config import RetrieveConfig


class RetrieveError(ValueError):
    """Retrieval cannot run on these inputs (the message names the file, line or flag)."""


@dataclass
class RetrieveInputs:
    """What retrieval reads: bad-case rows (with their line numbers, for ``retrieved_for``) and the pool file."""

    bad_rows: list[dict]
    pool_path: str
    input_key: str = "prompt"
    pool_input_key: str | None = None
    bad_lines: list[int] | None = None  # default: 1, 2, ... (rows held in memory)
    eval_texts: list[str] = field(default_factory=list)  # decontaminate the pool against these
    source: str = "bad cases"  # named in errors


def load_texts(path: str, key: str) -> tuple[list[int], list[dict], list[str]]:
    """(line numbers, rows, texts) of a JSON Lines file; chat-list prompts become their messages' words."""
    from openrlhf_weakness.backends.base import message_text
    from openrlhf_weakness.io import load_rows

    rows, _ = load_rows(path, [key], allow_empty=False)
    return [line for line, _ in rows], [row for _, row in rows], [message_text(row[key]) for _, row in rows]


def retrieve_similar(inputs: RetrieveInputs, cfg: RetrieveConfig, gen=None) -> tuple[list[dict], dict]:
    """Pool rows similar to the bad cases (APT's tag-based similarity) and a summary. ``gen`` (a RoleConfig)
    is the tagging model for ``cfg.tagger == "llm"``. Raises :class:`RetrieveError` or ``DataError``."""
    import numpy as np

    from openrlhf_weakness.backends.base import message_text
    from openrlhf_weakness.retrieve.decontaminate import Decontaminator
    from openrlhf_weakness.retrieve.embed import Embedder, embed_texts_cached, file_digest
    from openrlhf_weakness.retrieve.index import build_index
    from openrlhf_weakness.retrieve.select import SimilarCaseSelector
    from openrlhf_weakness.retrieve.tags import field_tags, kmeans_tags, llm_tags

    if cfg.tagger == "llm" and (gen is None or not gen.model):
        raise RetrieveError("--retrieve.tagger llm needs a tagging model (--tagger.backend and --tagger.model)")
    pool_key = inputs.pool_input_key or inputs.input_key
    pool_lines, pool_rows, pool_texts = load_texts(inputs.pool_path, pool_key)
    bad_rows = inputs.bad_rows
    bad_lines = inputs.bad_lines or list(range(1, len(bad_rows) + 1))
    for line, row in zip(bad_lines, bad_rows):
        if inputs.input_key not in row or not message_text(row[inputs.input_key]).strip():
            raise RetrieveError(f"{inputs.source}, line {line}, key '{inputs.input_key}': empty text")
    bad_texts = [message_text(row[inputs.input_key]) for row in bad_rows]
    if not bad_rows:
        return [], {
            "bad_cases": 0,
            "pool": len(pool_rows),
            "retrieved": 0,
            "mean_similarity": None,
            "hits_per_tag": {},
            "counts": {},
        }

    embedder = Embedder(cfg.embedder, cfg.batch_size)
    pool_vectors = embed_texts_cached(
        embedder, pool_texts, f"{file_digest(inputs.pool_path)}-{pool_key}", cfg.cache_dir, cfg.dtype
    )
    bad_vectors = embedder.encode(bad_texts)
    if cfg.tagger == "field":
        bad_tags, pool_tags = field_tags(bad_rows, cfg.tag_key), field_tags(pool_rows, cfg.tag_key)
    elif cfg.tagger == "kmeans":
        pool_tags, bad_tags = kmeans_tags(pool_vectors, bad_vectors, cfg.num_clusters)
    else:
        from openrlhf_weakness.backends.cache import open_cache
        from openrlhf_weakness.backends.config import SamplingParams
        from openrlhf_weakness.backends.driver import make_backend

        backend, cache = make_backend(gen), open_cache(gen)
        params = SamplingParams.from_config(gen)
        retries = getattr(gen, "parse_retries", 0)
        bad_tags, tag_report = llm_tags(bad_texts, backend, params, cache, retries)
        pool_tags, pool_report = llm_tags(pool_texts, backend, params, cache, retries)
        tag_report.add(pool_report)

    blocked = None
    if inputs.eval_texts:
        decontam = Decontaminator(inputs.eval_texts, cfg.decontam_ngram, cfg.decontam_threshold)
        blocked = ["contaminated" if decontam.contaminated(t) else None for t in pool_texts]
    index = build_index(pool_vectors, cfg.index, cfg.exact_max, nprobe=cfg.nprobe)
    selector = SimilarCaseSelector(
        pool_vectors, pool_tags, pool_texts, index, cfg.dedup_threshold, cfg.mmr_lambda, blocked=blocked
    )
    sel = selector.select(bad_vectors, bad_tags, bad_texts, cfg.scale, cfg.mode)
    out = []
    for pid in sel.pool_ids:
        out.append(
            dict(
                pool_rows[pid],
                source="similar",
                similarity=round(sel.similarity[pid], 6),
                retrieved_for=sorted({bad_lines[i] for i in sel.retrieved_for[pid]}),
                tags=pool_tags[pid],
                via_tag=sel.via_tag[pid],
                pool_line=pool_lines[pid],
            )
        )
    sims = [sel.similarity[p] for p in sel.pool_ids]
    summary = {
        "bad_cases": len(bad_rows),
        "pool": len(pool_rows),
        "retrieved": len(out),
        "mean_similarity": float(np.mean(sims)) if sims else None,
        "decontaminated": len(inputs.eval_texts) > 0,
        "hits_per_tag": dict(sel.hits_per_tag.most_common()),
        "counts": dict(sel.stats),
    }
    if cfg.tagger == "llm":
        summary["tagger_parse"] = tag_report.as_dict()
    return out, summary
