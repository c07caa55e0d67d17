"""Guard drop with and without the general mix (issue 26, item 6): every arm trained on the same seeds twice, once on
its own rows and once with ``--pairs.general_ratio`` of them replaced by ``--pairs.general_data`` rows (same budget),
read from two ``cli.compare`` work directories. Seed-level tests throughout (``experiment.seed_stats``).

    .venv/bin/python benchmarks/guard_mix.py --pair runs/real_final runs/real_mix \\
        --pair runs/real_apt runs/real_apt_mix --out benchmarks/results/guard_mix_real

Each ``--pair WITHOUT WITH`` compares the arms both directories trained; the guard and dev splits must be the same
files in both. A ``sft_uniform_redraw`` in a directory gives the table's noise floor (two draws of one procedure).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SPLITS = ("guard", "dev")


def load_cells(work: Path) -> list[dict]:
    """The finished cells of ``work/results`` (``cli.compare``'s per arm and seed results)."""
    cells = [json.loads(path.read_text()) for path in sorted((work / "results").glob("*-s*.json"))]
    return [cell for cell in cells if cell.get("status") == "done"]


def by_arm(cells: list[dict]) -> dict[str, dict[int, dict[str, list[float]]]]:
    """arm -> seed -> split -> per-question scores."""
    out: dict[str, dict[int, dict[str, list[float]]]] = {}
    for cell in cells:
        out.setdefault(cell["arm"], {})[int(cell["seed"])] = cell["scores"]
    return out


def same_split_files(without: Path, with_: Path) -> None:
    for split in SPLITS:
        a, b = without / "data" / f"{split}.jsonl", with_ / "data" / f"{split}.jsonl"
        missing = [str(p) for p in (a, b) if not p.is_file()]
        if missing:
            raise SystemExit(
                f"guard_mix: {', '.join(missing)} not found: --pair takes two cli.compare work directories"
            )
        if a.read_bytes() != b.read_bytes():
            raise SystemExit(f"guard_mix: {a} and {b} differ: the two runs were not scored on the same questions")


def compare_pair(without: Path, with_: Path, cells: dict[str, list[dict]]) -> list[dict]:
    """The table rows of one ``--pair``; ``cells``: each directory's finished cells (``load_cells``)."""
    from openrlhf_weakness.experiment.seed_stats import compare, noise_floor

    same_split_files(without, with_)
    runs = {"without": by_arm(cells[str(without)]), "with": by_arm(cells[str(with_)])}
    if 0 not in runs["without"].get("base", {}):
        raise SystemExit(f"guard_mix: {without}/results has no finished base cell (results/base-s0.json)")
    base = runs["without"]["base"][0]
    rows = []
    for arm in sorted(set(runs["without"]) & set(runs["with"]) - {"base"}):
        seeds = sorted(set(runs["without"][arm]) & set(runs["with"][arm]))
        if len(seeds) < 2:
            continue
        row = {"arm": arm, "without": str(without), "with": str(with_), "seeds": seeds}
        for split in SPLITS:
            cells = {mix: {s: runs[mix][arm][s][split] for s in seeds} for mix in runs}
            row[split] = {
                "base": sum(base[split]) / len(base[split]),
                **{mix: [sum(v) / len(v) for v in cells[mix].values()] for mix in runs},
                **{
                    f"{mix} - base": compare(
                        cells[mix], [base[split]], names=(f"{arm} {mix}", "base"), fixed="b"
                    ).as_dict()
                    for mix in runs
                },
                "with - without": compare(cells["with"], cells["without"], names=(f"{arm} with", "without")).as_dict(),
            }
        rows.append(row)
    for mix, work in (("without", without), ("with", with_)):
        first, second = runs[mix].get("sft_uniform"), runs[mix].get("sft_uniform_redraw")
        if first and second and len(set(first) & set(second)) >= 2:
            seeds = sorted(set(first) & set(second))
            floor = {"arm": f"noise floor ({mix} mix: sft_uniform drawn twice)", "without": str(work), "seeds": seeds}
            for split in SPLITS:
                pair = [{s: arm_runs[s][split] for s in seeds} for arm_runs in (second, first)]
                floor[split] = {"noise floor": noise_floor(*pair, name="sft_uniform").as_dict()}
            rows.append(floor)
    return rows


def markdown(rows: list[dict]) -> str:
    def fmt(c: dict) -> str:
        p = "n/a" if c["p_value"] is None else f"{c['p_value']:.2g}"
        return f"{c['mean_diff']:+.3f} [{c['t_low']:+.3f}, {c['t_high']:+.3f}] p {p}"

    lines = [
        "| arm | seeds | split | base | without mix | with mix | without - base | with - base | with - without |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for split in SPLITS:
            cell = row[split]
            if "noise floor" in cell:
                c = cell["noise floor"]
                lines.append(f"| {row['arm']} | {len(row['seeds'])} | {split} | | | | | | {fmt(c)} |")
                continue
            mean = {mix: sum(cell[mix]) / len(cell[mix]) for mix in ("without", "with")}
            lines.append(
                f"| {row['arm']} | {len(row['seeds'])} | {split} | {cell['base']:.3f} | {mean['without']:.3f} | "
                f"{mean['with']:.3f} | {fmt(cell['without - base'])} | {fmt(cell['with - base'])} | "
                f"{fmt(cell['with - without'])} |"
            )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [r for r in rows if "without - base" in r["guard"]]
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(5 * len(SPLITS), 3.5), squeeze=False)
    for ax, split in zip(axes[0], SPLITS):
        for i, row in enumerate(arms):
            for j, mix in enumerate(("without", "with")):
                values = row[split][mix]
                ax.scatter(
                    [i + (j - 0.5) * 0.3] * len(values),
                    values,
                    s=14,
                    color=("tab:red", "tab:blue")[j],
                    label=f"{mix} general mix" if i == 0 else None,
                )
            ax.hlines(
                row[split]["base"], i - 0.4, i + 0.4, color="grey", linestyles="--", label="base" if i == 0 else None
            )
        ax.set_xticks(range(len(arms)), [r["arm"] for r in arms], rotation=20)
        ax.set_title(f"{split} accuracy per training seed")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, action="append", metavar=("WITHOUT", "WITH"), required=True)
    parser.add_argument(
        "--out", default="benchmarks/results/guard_mix_real", help="writes OUT.json, .md, .png and .scores.jsonl.gz"
    )
    opts = parser.parse_args()
    from openrlhf_weakness.experiment.summary import write_scores, write_text
    from openrlhf_weakness.io import write_json

    works = list(dict.fromkeys(work for pair in opts.pair for work in pair))
    cells = {work: load_cells(Path(work)) for work in works}
    rows = [row for without, with_ in opts.pair for row in compare_pair(Path(without), Path(with_), cells)]
    if not rows:
        raise SystemExit("guard_mix: no arm was trained in both directories of any --pair on 2 or more seeds")
    out = Path(opts.out)
    write_json(out.with_suffix(".json"), {"pairs": opts.pair, "rows": rows})
    # every question's score, each arm named with its work directory, so any interval here can be recomputed
    tagged = [
        dict(cell, arm=f"{cell['arm']} [{work}]", scores={s: cell["scores"][s] for s in SPLITS})
        for work in works
        for cell in cells[work]
    ]
    first = Path(works[0]) / "data"
    questions = {split: [json.loads(line) for line in open(first / f"{split}.jsonl")] for split in SPLITS}
    write_scores(out.with_suffix(".scores.jsonl.gz"), questions, tagged, "datasource")
    table = markdown(rows)
    write_text(out.with_suffix(".md"), table)
    plot(rows, out.with_suffix(".png"))
    print(table)


if __name__ == "__main__":
    main()
