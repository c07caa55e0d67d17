"""Retrieval at pool scale: exact faiss search against numpy brute force and against the machine's bounds; IVF against
exact (speed-up and recall@10); a tag-filtered search against the unfiltered one.

Data: a planted mixture of clusters (unit vectors around 2,000 random centres; structured, unlike uniform noise).

    .venv/bin/python benchmarks/bench_retrieval.py [--pool 1000000 --queries 10000 --dim 384 --k 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def planted(n: int, d: int, centres: np.ndarray, noise: float, rng) -> np.ndarray:
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(0, len(centres), m)] + noise * rng.standard_normal((m, d), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--numpy_queries", type=int, default=1_000, help="numpy runs on this many queries (scaled)")
    parser.add_argument("--filtered_queries", type=int, default=1_000)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/retrieval.json")
    opts = parser.parse_args()
    import faiss

    from openrlhf_weakness.retrieve.index import build_index, search

    rng = np.random.default_rng(0)
    d, k = opts.dim, opts.k
    centres = rng.standard_normal((2000, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    pool = planted(opts.pool, d, centres, 0.04, rng)
    queries = planted(opts.queries, d, centres, 0.04, rng)
    r = {"pool": opts.pool, "queries": opts.queries, "dim": d, "k": k, "faiss_threads": faiss.omp_get_max_threads()}

    # machine bounds: matrix-product rate and copy bandwidth, measured here
    a, b = rng.standard_normal((4096, d), dtype=np.float32), rng.standard_normal((d, 8192), dtype=np.float32)
    a @ b
    t = min(timed(lambda: [a @ b for _ in range(5)])[1] for _ in range(3))  # best of three: the machine's rate
    gflops = 5 * 2 * 4096 * d * 8192 / t / 1e9
    dst = np.empty_like(pool)
    np.copyto(dst, pool)  # first touch pays the page faults
    _, t = timed(lambda: np.copyto(dst, pool))
    del dst
    copy_gbs = 2 * pool.nbytes / t / 1e9  # read + write
    r.update(matmul_gflops=gflops, copy_gb_per_s=copy_gbs)

    flat, r["flat_build_s"] = timed(lambda: build_index(pool, kind="flat"))
    (exact_scores, exact_ids), r["exact_s"] = timed(lambda: search(flat, queries, k))

    def numpy_topk(q):
        sims = q @ pool.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    nq = min(opts.numpy_queries, opts.queries)
    np_ids, t = timed(lambda: np.concatenate([numpy_topk(queries[s : s + 250]) for s in range(0, nq, 250)]))
    r["numpy_s_scaled"] = t * opts.queries / nq
    r["numpy_agrees_with_exact"] = float(np.mean(np_ids == exact_ids[:nq]))
    r["compute_bound_s"] = 2 * opts.pool * opts.queries * d / (gflops * 1e9)
    r["bandwidth_bound_s"] = pool.nbytes / (copy_gbs / 2 * 1e9)  # one read of the pool

    ivf, r["ivf_build_s"] = timed(lambda: build_index(pool, kind="ivf", nprobe=32))
    (_, ivf_ids), r["ivf_s"] = timed(lambda: search(ivf, queries, k))
    r["ivf_nlist"], r["ivf_nprobe"] = ivf.nlist, ivf.nprobe
    r["ivf_recall_at_10"] = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(exact_ids, ivf_ids)]))

    tags = rng.integers(0, opts.tags, opts.pool)
    query_tags = rng.integers(0, opts.tags, opts.filtered_queries)
    members = {t: np.flatnonzero(tags == t) for t in range(opts.tags)}
    fq = queries[: opts.filtered_queries]

    def filtered():
        out = np.empty((len(fq), k), dtype=np.int64)
        for t in range(opts.tags):
            rows = np.flatnonzero(query_tags == t)
            if len(rows):
                out[rows] = search(flat, fq[rows], k, allowed_ids=members[t])[1]
        return out

    filt_ids, r["filtered_s"] = timed(filtered)
    _, r["unfiltered_same_queries_s"] = timed(lambda: search(flat, fq, k))
    r["filtered_only_allowed"] = bool(all(np.isin(filt_ids[i], members[query_tags[i]]).all() for i in range(len(fq))))

    r["ratio_numpy_over_faiss_exact"] = r["numpy_s_scaled"] / r["exact_s"]
    r["ratio_exact_over_compute_bound"] = r["exact_s"] / r["compute_bound_s"]
    r["ratio_exact_over_bandwidth_bound"] = r["exact_s"] / r["bandwidth_bound_s"]
    r["ratio_ivf_speedup_over_exact"] = r["exact_s"] / r["ivf_s"]
    r["ratio_filtered_over_unfiltered"] = r["filtered_s"] / r["unfiltered_same_queries_s"]
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(r, indent=2) + "\n")
    print(f"pool {opts.pool:,} x {d} float32 ({pool.nbytes / 1e9:.2f} GB), {opts.queries:,} queries, k = {k}")
    print(f"  machine: {gflops:.0f} GFLOP/s matrix product, {copy_gbs:.1f} GB/s copy (read + write)")
    print(
        f"  faiss exact: {r['exact_s']:.1f} s; numpy brute force: {r['numpy_s_scaled']:.1f} s (measured on {nq} "
        f"queries, scaled); ratio numpy/faiss {r['ratio_numpy_over_faiss_exact']:.1f}x"
    )
    print(
        f"  exact vs compute bound ({r['compute_bound_s']:.1f} s): {r['ratio_exact_over_compute_bound']:.2f}x; "
        f"vs bandwidth bound ({r['bandwidth_bound_s']:.2f} s): {r['ratio_exact_over_bandwidth_bound']:.0f}x"
    )
    print(
        f"  IVF{r['ivf_nlist']} nprobe {r['ivf_nprobe']}: {r['ivf_s']:.2f} s, speed-up {r['ratio_ivf_speedup_over_exact']:.1f}x, "
        f"recall@10 {r['ivf_recall_at_10']:.3f} (build {r['ivf_build_s']:.1f} s)"
    )
    print(
        f"  tag-filtered ({opts.tags} tags, {len(fq)} queries): {r['filtered_s']:.2f} s vs unfiltered "
        f"{r['unfiltered_same_queries_s']:.2f} s: ratio {r['ratio_filtered_over_unfiltered']:.2f}; only allowed ids: "
        f"{r['filtered_only_allowed']}"
    )


if __name__ == "__main__":
    main()
