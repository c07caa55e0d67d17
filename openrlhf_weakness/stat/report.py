"""The Missing-Skill-Profile as JSON and a bar chart."""

from __future__ import annotations

from pathlib import Path


def write_profile(folder: str | Path, profile: dict[str, int], n_difficult: int, extra: dict) -> None:
    from openrlhf_weakness.io import write_json

    folder = Path(folder)
    ordered = dict(sorted(profile.items(), key=lambda kv: (-kv[1], kv[0])))
    write_json(folder / "profile.json", {"difficult_questions": n_difficult, "counts": ordered, **extra})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(ordered)[:30]
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(names), 3) + 1.2))
    ax.barh(names[::-1], [ordered[n] for n in names][::-1], color="tab:purple")
    ax.set_xlabel(f"difficult questions missing the skill (of {n_difficult})")
    ax.set_title("Missing-Skill-Profile")
    fig.tight_layout()
    fig.savefig(folder / "profile.png", dpi=110)
    plt.close(fig)


def write_stat_report(root: Path, final: dict) -> None:
    """``report.md``: the profile, STAT-Syn's count and what each stage did."""
    lines = [
        f"# STAT run: {root}",
        "",
        f"- training examples: {final['train']}; skills: {final['skills']}",
        f"- dev questions: {final['dev']}; difficult (with the ledger): {final['difficult']}",
        "",
    ]
    if final.get("profile"):
        lines += (
            [
                "## Missing-Skill-Profile",
                "",
                "![profile](profile.png)",
                "",
                "| skill | difficult questions |",
                "|---|---|",
            ]
            + [f"| {k} | {v} |" for k, v in list(final["profile"].items())[:20]]
            + [""]
        )
    if "stat_syn_rows" in final:
        lines += [f"STAT-Syn rows: {final['stat_syn_rows']}", ""]
    lines += ["## Stages", "", "| stage | action | why | seconds |", "|---|---|---|---|"]
    lines += [
        f"| {d['stage']} | {d['action']} | {d.get('why', '')} | {final['stage_seconds'].get(d['stage'], 0):.1f} |"
        for d in final["stages"]
    ]
    tmp = root / "report.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(root / "report.md")
