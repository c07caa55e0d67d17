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
