"""The run's report: ``report.md`` with per-iteration and per-category tables, and PNG plots beside it."""

from __future__ import annotations

from pathlib import Path


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_report(root: str | Path, final: dict) -> Path:
    root = Path(root)
    rows = [final["base"]] + final["history"]
    lines = [
        "# APT run report",
        "",
        f"Stopped: {final['stopped']}. Best model: M_{final['best']['iteration']} (`{final['best']['model']}`).",
        "",
        "| model | dev | guard | test | bad cases in the previous model's answers (rate) | pairs trained on | "
        "chosen logp first -> last | rejected logp first -> last |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        train = r.get("train") or {}
        c, rj = train.get("chosen_logp") or {}, train.get("rejected_logp") or {}
        bad = "-" if "bad_cases" not in r else f"{r['bad_cases']} ({_fmt(r.get('bad_rate'), 2)})"
        lines.append(
            f"| M_{r['iteration']} | {_fmt(r['dev'])} | {_fmt(r.get('guard'))} | {_fmt(r.get('test'))} | {bad} | "
            f"{r.get('pairs', '-')} | {_fmt(c.get('first'), 2)} -> {_fmt(c.get('last'), 2)} | "
            f"{_fmt(rj.get('first'), 2)} -> {_fmt(rj.get('last'), 2)} |"
        )
    sources = sorted({s for r in rows for s in r.get("dev_by_datasource", {})})
    if sources:
        lines += [
            "",
            "Dev score per category:",
            "",
            "| model | " + " | ".join(sources) + " |",
            "|---|" + "---|" * len(sources),
        ]
        for r in rows:
            lines.append(
                f"| M_{r['iteration']} | " + " | ".join(_fmt(r["dev_by_datasource"].get(s)) for s in sources) + " |"
            )
    if final.get("stage_seconds"):
        lines += [
            "",
            "Seconds per stage (this invocation): "
            + ", ".join(f"{k} {v:.1f}" for k, v in final["stage_seconds"].items()),
        ]
    lines += ["", "![scores](scores.png)", "", "![log-probabilities](logps.png)", ""]
    (root / "report.md").write_text("\n".join(lines))
    _plots(root, rows)
    return root / "report.md"


def _plots(root: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["iteration"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("dev", "domain dev"), ("guard", "guard"), ("test", "domain test")):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", label=label)
    rated = [r for r in rows if r.get("bad_rate") is not None]
    if rated:  # the rate belongs to the model that answered: M_{t-1} for the row of M_t
        ax.plot(
            [r["iteration"] - 1 for r in rated],
            [r["bad_rate"] for r in rated],
            marker="x",
            ls="--",
            label="bad-case rate of M_t on train",
        )
    ax.set_xlabel("model M_t (after t iterations)")
    ax.set_ylabel("score")
    ax.set_xticks(xs)
    ax.legend()
    ax.set_title("APT: domain, guard and bad-case rate per iteration")
    fig.tight_layout()
    fig.savefig(root / "scores.png", dpi=110)
    plt.close(fig)

    trained = [r for r in rows if r.get("train")]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, color in (("chosen_logp", "tab:green"), ("rejected_logp", "tab:red")):
        for r in trained:
            pair = r["train"].get(key) or {}
            if pair.get("first") is not None:
                x = r["iteration"]
                ax.plot(
                    [x - 0.8, x],
                    [pair["first"], pair["last"]],
                    color=color,
                    marker="o",
                    label=key if r is trained[0] else None,
                )
    ax.set_xlabel("iteration (start -> end of training)")
    ax.set_ylabel("mean per-token log-probability")
    ax.set_title("chosen should not fall; rejected should fall")
    if trained:
        ax.legend()
    fig.tight_layout()
    fig.savefig(root / "logps.png", dpi=110)
    plt.close(fig)
