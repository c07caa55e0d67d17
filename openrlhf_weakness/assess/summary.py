"""What an assessment run found: the score histogram, the bad-case rate, and both per ``datasource``."""

from __future__ import annotations

from collections import Counter, defaultdict


def summarize(scores: list[int | None], bad_below: int, sources: list[str] | None = None) -> dict:
    def block(values: list[int | None]) -> dict:
        scored = [v for v in values if v is not None]
        hist = Counter(scored)
        bad = sum(1 for v in scored if v < bad_below)
        return {
            "n": len(values),
            "scored": len(scored),
            "skipped": len(values) - len(scored),
            "histogram": {str(s): hist.get(s, 0) for s in range(1, 6)},
            "mean_score": sum(scored) / len(scored) if scored else None,
            "bad": bad,
            "bad_rate": bad / len(scored) if scored else None,
        }

    result = {"bad_below": bad_below, **block(scores)}
    if sources and any(sources):
        groups = defaultdict(list)
        for source, score in zip(sources, scores):
            groups[source or "(none)"].append(score)
        result["by_datasource"] = {name: block(values) for name, values in sorted(groups.items())}
    return result


def format_summary(summary: dict) -> str:
    def line(name: str, b: dict) -> str:
        hist = " ".join(f"{k}:{v}" for k, v in b["histogram"].items())
        rate = "-" if b["bad_rate"] is None else f"{b['bad_rate']:.1%}"
        mean = "-" if b["mean_score"] is None else f"{b['mean_score']:.2f}"
        return f"  {name:<24} {b['n']:>6} {b['skipped']:>7} {mean:>6} {rate:>8}   {hist}"

    out = [
        f"  {'':<24} {'rows':>6} {'skipped':>7} {'mean':>6} {'bad':>8}   histogram (bad = score < {summary['bad_below']})"
    ]
    out.append(line("all", summary))
    for name, b in summary.get("by_datasource", {}).items():
        out.append(line(name, b))
    return "\n".join(out)
