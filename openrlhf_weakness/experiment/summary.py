"""Per arm and per compared pair: means, and paired differences whose verdict is a seed-level t test,
the markdown table, the plot, and the per-question scores they rest on (``scores.jsonl.gz``)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

COMPARISONS = {  # name: (arm, against); a trained arm in none of these is compared with base
    "apt_vs_base": ("apt", "base"),
    "apt_vs_sft": ("apt", "sft_same_budget"),
    "dpo_only_vs_sft": ("dpo_only", "sft_same_budget"),
    "apt_vs_dpo_only": ("apt", "dpo_only"),
    "stat_sel_vs_uniform": ("stat_sel", "sft_uniform"),
    "stat_sel_sampler_vs_uniform": ("stat_sel_sampler", "sft_uniform"),
    "stat_sel_sampler_vs_stat_sel": ("stat_sel_sampler", "stat_sel"),
    "stat_sel_subskills_vs_uniform": ("stat_sel_subskills", "sft_uniform"),
    "stat_sel_subskills_vs_stat_sel": ("stat_sel_subskills", "stat_sel"),
    "stat_sel_vs_base": ("stat_sel", "base"),
    "stat_sel_vs_error_rate": ("stat_sel", "sft_error_rate"),
    "stat_sel_vs_stratified": ("stat_sel", "sft_stratified"),
    "stat_sel_vs_inverted": ("stat_sel", "stat_sel_inverted"),
    "apt_vs_sft_apt_rows": ("apt", "sft_apt_rows"),
    "noise_floor_uniform": ("sft_uniform_redraw", "sft_uniform"),  # two draws of one procedure
    "noise_floor_same_budget": ("sft_same_budget_redraw", "sft_same_budget"),
    "sft_same_budget_vs_base": ("sft_same_budget", "base"),
}


# ---- the statistics: every interval of the experiment comes from these two calls -------------------------------
def estimate(matrix) -> dict:
    """An arm's mean over a ``[seed][question]`` matrix with its interval."""
    from openrlhf_weakness.experiment.stats import mean_ci

    return mean_ci(matrix).as_dict()


def difference(a, b) -> dict:
    """Arm ``a`` minus arm ``b`` on the same questions, seed i paired with seed i: the verdict rests on the per-seed
    differences (Student t, n - 1 df; the seed is the unit of replication); the question-level bootstrap interval is
    kept beside it for information. An untrained arm (one row: base) is compared with every seed of the other."""
    from openrlhf_weakness.experiment.seed_stats import NO_SPREAD, StatsError, compare

    fixed = "b" if len(b) == 1 and len(a) > 1 else "a" if len(a) == 1 and len(b) > 1 else None
    try:
        result = compare(a, b, fixed=fixed)
    except StatsError as err:  # one seed: no seed-level test; the question interval alone, said so
        from openrlhf_weakness.experiment.stats import paired_difference

        return {**paired_difference(a, b).as_dict(), "verdict": f"no seed-level test ({err})"}
    q = result.question_interval
    return {
        "mean": result.mean_diff,
        "ci_low": result.t_low,
        "ci_high": result.t_high,
        "p": result.p_value,
        "n_seeds": result.n_seeds,
        "seed_diffs": list(result.seed_diffs),
        "question_ci": [q.ci_low, q.ci_high],
        "verdict": {"A better": "better", "B better": "worse", NO_SPREAD: NO_SPREAD}.get(
            result.verdict, "no measurable difference"
        ),
    }


# ----------------------------------------------------------------------------------------------------------------
def upweighted_skills(weighted: list[dict], key: str) -> list[str]:
    """The skills STAT-Sel moves budget toward: their share of the draw (by weight) exceeds their share of the pool,
    most favoured first."""
    from collections import Counter

    from openrlhf_weakness.stat.skills import normalize_skill

    total = sum(r["stat_weight"] for r in weighted)
    by_weight, by_rows = Counter(), Counter()
    for r in weighted:
        for skill in {normalize_skill(s) for s in (r[key] if isinstance(r[key], list) else [r[key]])}:
            by_weight[skill] += r["stat_weight"] / total
            by_rows[skill] += 1 / len(weighted)
    favoured = [s for s in by_rows if by_weight[s] > by_rows[s]]
    return sorted(favoured, key=lambda s: -by_weight[s] / by_rows[s])


def row_skills(row: dict, datasource_key: str, reference_key: str, subskills: bool) -> set[str]:
    """A question's category and, with ``subskills``, the reasoning-gym sub-skills of its reference, in the spelling
    of a STAT profile."""
    from openrlhf_weakness.stat.skills import normalize_skill

    found = {str(row.get(datasource_key) or "")}
    if subskills:
        from openrlhf_weakness.stat.subskills import reasoning_gym_skills

        try:
            found.update(reasoning_gym_skills(row[reference_key]))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return {normalize_skill(s) for s in found}


def summarize(
    rows: dict[str, list[dict]],
    base: dict,
    results: list[dict],
    split: str = "test",
    datasource_key: str = "datasource",
    reference_key: str = "reference",
    budget: dict | None = None,
    setting: str | None = None,
) -> dict:
    """Per arm and per compared pair, on ``split`` (test for the final table; dev while choosing); guard and dev
    beside it when scored."""
    import numpy as np

    from openrlhf_weakness.stat.skills import normalize_skill

    split_rows = rows[split]
    skills = sorted({str(r.get(datasource_key) or "") for r in split_rows})
    arms, failed = {"base": [base]}, {}
    for r in results:
        if r["status"] == "done":
            arms.setdefault(r["arm"], []).append(r)
        else:
            failed.setdefault(r["arm"], []).append({k: r.get(k) for k in ("seed", "error", "log", "tail")})
    tops = {arm: next((r["top_skills"] for r in runs if r.get("top_skills")), []) for arm, runs in arms.items()}
    subskills = "stat_sel_subskills" in arms or setting == "real"
    labels = {name: [row_skills(r, datasource_key, reference_key, subskills) for r in rows[name]] for name in rows}

    def matrix(arm: str, name: str, skill: list[str] | None = None):
        wanted = {normalize_skill(s) for s in skill or ()}
        keep = [i for i, found in enumerate(labels[name]) if skill is None or found & wanted]
        return np.array([[r["scores"][name][i] for i in keep] for r in sorted(arms[arm], key=lambda r: r["seed"])])

    others = [s for s in ("guard", "dev") if s in rows and s != split]
    out = {
        "setting": setting,
        "split": split,
        "n_test": len(split_rows),
        "n_guard": len(rows.get("guard", [])),
        "skills": skills,
        "stat_top_skills": tops.get("stat_sel", []),
        "arms": {},
        "comparisons": {},
        "failed": failed,
        "budget": budget or {},
    }
    for arm in arms:
        block = {"seeds": [r["seed"] for r in arms[arm]], "n_test": len(split_rows), **estimate(matrix(arm, split))}
        for other in others:
            block[other] = estimate(matrix(arm, other))
        block["by_skill"] = {s: estimate(matrix(arm, split, [s])) for s in skills}
        out["arms"][arm] = block
    pairs = dict(COMPARISONS)
    for arm in arms:
        if arm != "base" and not any(arm in pair and pair[0] in arms and pair[1] in arms for pair in pairs.values()):
            pairs[f"{arm}_vs_base"] = (arm, "base")
    for name, (a, b) in pairs.items():
        if a in arms and b in arms and (len(arms[a]) == len(arms[b]) or "base" in (a, b)):
            entry = difference(matrix(a, split), matrix(b, split))
            for other in others:
                entry[other] = difference(matrix(a, other), matrix(b, other))
            entry["by_skill"] = {s: difference(matrix(a, split, [s]), matrix(b, split, [s])) for s in skills}
            if tops.get(a) and name.startswith("stat_sel"):
                entry["top_skills"] = difference(matrix(a, split, tops[a]), matrix(b, split, tops[a]))
                entry["top_skills"]["skills"] = tops[a]
            out["comparisons"][name] = entry
    return out


def markdown(summary: dict) -> str:
    def ci(e: dict | None) -> str:
        return f"{e['mean']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]" if e else ""

    split = summary.get("split", "test")
    registered = summary.get("preregistration")
    lines = [
        f"Pre-registered (sha256 {registered[:16]})." if registered else "Exploratory: no pre-registration.",
        "",
        f"{split.capitalize()}: {summary['n_test']} questions; guard: {summary['n_guard']}. Arms: mean with a 95% "
        "bootstrap interval over questions and seeds. Comparisons: the mean paired difference with its 95% t interval "
        "over training seeds (the verdict, p) and the question-level bootstrap interval beside it.",
        "",
        f"| arm | seeds | {split} | guard | dev |",
        "|---|---|---|---|---|",
    ]
    for arm, b in summary["arms"].items():
        lines.append(f"| {arm} | {len(b['seeds'])} | {ci(b)} | {ci(b.get('guard'))} | {ci(b.get('dev'))} |")
    for arm, failures in summary["failed"].items():
        for f in failures:
            lines.append(f"| {arm} | seed {f['seed']} FAILED | {f['error']} (log: {f['log']}) | | |")
    lines += [
        "",
        f"| comparison (paired by seed) | {split} difference [t interval] | p | verdict | question interval "
        "| guard difference | top skills |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in summary["comparisons"].items():
        p = f"{c['p']:.3f}" if c.get("p") is not None else ""
        q = f"[{c['question_ci'][0]:.3f}, {c['question_ci'][1]:.3f}]" if c.get("question_ci") else ""
        guard, top = ci(c.get("guard")), ci(c.get("top_skills"))
        lines.append(f"| {name} | {ci(c)} | {p} | {c['verdict']} | {q} | {guard} | {top} |")
    if summary.get("stat_top_skills"):
        lines += [
            "",
            "Top skills (STAT-Sel's weights favour them over their share of the pool): "
            + ", ".join(summary["stat_top_skills"])
            + ".",
        ]
    if summary.get("registered"):
        lines += ["", "Pre-registered comparisons (seed-level test; goal checked):", ""]
        lines += [f"- {v['line']}" for v in summary["registered"]]
    skills = summary["skills"]
    lines += ["", "| arm | " + " | ".join(skills) + " |", "|---|" + "---|" * len(skills)]
    for arm, b in summary["arms"].items():
        lines.append(f"| {arm} | " + " | ".join(f"{b['by_skill'][s]['mean']:.2f}" for s in skills) + " |")
    return "\n".join(lines) + "\n"


def per_model_table(results: list[dict], splits: tuple[str, ...]) -> str:
    """One row per (arm or model, seed): the mean score on each split, or the failure and its log."""
    lines = ["| model | seed | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for r in results:
        if r["status"] != "done":
            lines.append(
                f"| {r['arm']} | {r['seed']} | FAILED: {r['error']} (log: {r['log']}) |" + " |" * (len(splits) - 1)
            )
            continue
        means = [sum(r["scores"][s]) / len(r["scores"][s]) if r["scores"].get(s) else float("nan") for s in splits]
        lines.append(f"| {r['arm']} | {r['seed']} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines) + "\n"


def score_records(rows: dict[str, list[dict]], results: list[dict], datasource_key: str):
    """The long table: one record per done (arm, seed), split and question, with the question's category."""
    for r in results:
        if r["status"] != "done":
            continue
        for split, values in r["scores"].items():
            for i, value in enumerate(values):
                source = rows[split][i].get(datasource_key) if split in rows else None
                record = {"arm": r["arm"], "seed": r["seed"], "split": split, "question": i, "score": value}
                yield {**record, "datasource": source}


def write_scores(
    path: str | os.PathLike, rows: dict[str, list[dict]], results: list[dict], datasource_key: str
) -> None:
    """Every done (arm, seed)'s per-question scores, one JSON line each, gzip-compressed, written atomically."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with gzip.open(tmp, "wt") as out:
        for record in score_records(rows, results, datasource_key):
            out.write(json.dumps(record) + "\n")
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file beside it, then rename)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_scores(path: str | os.PathLike) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def plot(summary: dict, path: str | os.PathLike) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms"])
    panels = [(None, f"domain {summary.get('split', 'test')}")]
    if all("guard" in summary["arms"][a] for a in arms):
        panels.append(("guard", "guard"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        blocks = [summary["arms"][a] if key is None else summary["arms"][a][key] for a in arms]
        means = [b["mean"] for b in blocks]
        err = [[m - b["ci_low"] for m, b in zip(means, blocks)], [b["ci_high"] - m for m, b in zip(means, blocks)]]
        ax.bar(arms, means, yerr=err, capsize=4, color="#4c72b0")
        ax.set_title(f"{title} score (95% CI)")
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
