"""cli.compare and cli.evaluate end to end on the tiny model and data written here: two arms over two seeds with
their paired table, per-question scores on disk, a failed arm reported with its log while the others finish, a rerun
that reuses every finished cell, and the same scores from cli.evaluate."""

from __future__ import annotations

import json

import pytest

from openrlhf_weakness.io import write_jsonl


def _rows(n: int, offset: int, kinds=("add", "sub")) -> list[dict]:
    rows = []
    for i in range(n):
        a, b, kind = (i + offset) % 9, (i * 3 + offset) % 7, kinds[i % len(kinds)]
        text, ans = (f"What is {a} plus {b}?", a + b) if kind == "add" else (f"What is {a} minus {b}?", a - b)
        rows.append({"question": text, "answer": str(ans), "kind": kind})
    return rows


SPLITS = {"train": _rows(6, 0), "dev": _rows(4, 100), "test": _rows(6, 400), "guard": _rows(3, 200, ("sub",))}
SPLITS["pool"] = _rows(40, 300)


def _argv(tiny_model, data: dict, work, arms="apt,sft_same_budget,stat_sel"):
    argv = ["--gen.model", str(tiny_model), "--gen.max_new_tokens", "6", "--gen.chat_template_enable"]
    argv += [f"--data.{split}" for split in ()] + [t for s, p in data.items() for t in (f"--data.{s}", p)]
    argv += ["--data.input_key", "question", "--data.reference_key", "answer", "--data.datasource_key", "kind"]
    argv += ["--retrieve.tag_key", "kind", "--assess.num_workers", "1", "--loop.iterations", "1"]
    argv += ["--compare.arms", arms, "--compare.seeds", "2", "--compare.work_dir", str(work)]
    argv += ["--", "--train.micro_batch_size", "4", "--train.batch_size", "8", "--adam.lr", "1e-3"]
    return argv + ["--data.max_len", "64", "--train.max_epochs", "1", "--ds.param_dtype", "fp32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare_data")
    paths = {}
    for name, rows in SPLITS.items():
        paths[name] = str(folder / f"{name}.jsonl")
        write_jsonl(paths[name], rows)
    return paths


@pytest.fixture(scope="module")
def first_run(tiny_model, data, tmp_path_factory):
    """One compare run (apt, sft_same_budget; stat_sel fails: no skill key and no teacher); (work dir, stdout)."""
    import contextlib
    import io

    from openrlhf_weakness.cli.compare import main

    work = tmp_path_factory.mktemp("compare_run")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(_argv(tiny_model, data, work))
    assert code == 1, out.getvalue()[-3000:]  # one arm failed
    return work, out.getvalue()


def test_two_arms_two_seeds_scored_and_compared(first_run):
    work, printed = first_run
    for arm in ("apt", "sft_same_budget"):
        for seed in (0, 1):
            cell = json.loads((work / "results" / f"{arm}-s{seed}.json").read_text())
            assert cell["status"] == "done" and cell["seed"] == seed
            assert {s: len(v) for s, v in cell["scores"].items()} == {"dev": 4, "guard": 3, "test": 6}
            assert all(0.0 <= v <= 1.0 for values in cell["scores"].values() for v in values)
    sft = json.loads((work / "results" / "sft_same_budget-s0.json").read_text())
    apt = json.loads((work / "results" / "apt-s0.json").read_text())
    pairs = sum(1 for _ in open(work / "apt-s0" / "iter_0" / "pairs.jsonl"))
    assert sft["rows"] == pairs and apt["best_iteration"] in (0, 1)  # the same budget as APT's first iteration
    summary = json.loads((work / "summary.json").read_text())
    assert set(summary["arms"]) == {"base", "apt", "sft_same_budget"} and summary["arms"]["apt"]["seeds"] == [0, 1]
    assert summary["n_test"] == 6 and summary["skills"] == ["add", "sub"]
    diff = summary["comparisons"]["apt_vs_sft"]
    assert -1.0 <= diff["ci_low"] <= diff["mean"] <= diff["ci_high"] <= 1.0
    for line in ("| apt | 2 |", "| sft_same_budget | 2 |", "| base | 1 |", "| apt_vs_sft |"):
        assert line in printed
    from openrlhf_weakness.experiment.summary import read_scores

    scores = read_scores(work / "summary.scores.jsonl.gz")  # any interval can be recomputed from these
    apt_test = [r["score"] for r in scores if r["arm"] == "apt" and r["seed"] == 1 and r["split"] == "test"]
    assert apt_test == json.loads((work / "results" / "apt-s1.json").read_text())["scores"]["test"]
    assert {r["datasource"] for r in scores if r["split"] == "guard"} == {"sub"}


def test_a_failed_arm_is_reported_with_its_log(first_run):
    work, printed = first_run
    failed = json.loads((work / "results" / "stat_sel-s0.json").read_text())
    assert failed["status"] == "failed" and "teacher" in failed["error"]
    assert "Traceback" in open(failed["log"]).read()
    assert f"| stat_sel | seed 0 FAILED | {failed['error']} (log: {failed['log']})" in printed
    assert f"stat_sel seed 1 FAILED" in printed and failed["log"] in printed


def test_a_rerun_reuses_finished_cells(first_run, tiny_model, data, capsys):
    from openrlhf_weakness.cli.compare import main

    work, _ = first_run
    before = {p.name: p.stat().st_mtime_ns for p in (work / "results").glob("*.json")}
    assert main(_argv(tiny_model, data, work, "apt,sft_same_budget")) == 0
    printed = capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in (work / "results").glob("*.json")}
    assert all(after[name] == before[name] for name in before if not name.startswith("stat_sel"))
    assert printed.count("reused") == 5  # base and two arms over two seeds: nothing trained or scored again
    assert "| apt_vs_sft |" in printed


@pytest.mark.xfail(reason="needs io Parquet reader (branch datacore)", strict=False)
def test_the_test_split_as_parquet_gives_the_same_summary(first_run, tiny_model, data, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from openrlhf_weakness.cli.compare import main

    work, _ = first_run
    parquet = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist(SPLITS["test"]), parquet)
    expected = json.loads((work / "summary.json").read_text())
    assert main(_argv(tiny_model, dict(data, test=str(parquet)), work, "apt,sft_same_budget")) == 0
    summary = json.loads((work / "summary.json").read_text())
    assert summary["arms"]["apt"] == expected["arms"]["apt"] and summary["n_test"] == 6


def test_evaluate_scores_two_models_as_compare_does(first_run, tiny_model, data, tmp_path, capsys):
    from openrlhf_weakness.cli.evaluate import main

    work, _ = first_run
    trained = json.loads((work / "results" / "sft_same_budget-s0.json").read_text())
    argv = ["--eval.models", f"{tiny_model},{trained['model']}", "--eval.work_dir", str(tmp_path / "ev")]
    argv += ["--data.dev", data["dev"], "--data.guard", data["guard"], "--data.test", data["test"]]
    argv += ["--data.input_key", "question", "--data.reference_key", "answer", "--data.datasource_key", "kind"]
    argv += ["--gen.max_new_tokens", "6", "--gen.chat_template_enable", "--assess.num_workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    assert set(result) == {str(tiny_model), trained["model"]}
    base = json.loads((work / "results" / "base-s0.json").read_text())
    for split in ("dev", "guard", "test"):  # the same scoring as compare's: the same numbers
        assert result[str(tiny_model)][split]["n"] == len(SPLITS[split])
        assert result[str(tiny_model)][split]["score"] == pytest.approx(sum(base["scores"][split]) / len(SPLITS[split]))
        assert result[trained["model"]][split]["score"] == pytest.approx(
            sum(trained["scores"][split]) / len(SPLITS[split])
        )
    assert "| model | seed | dev | guard | test |" in printed and f"| {trained['model']} | 0 |" in printed
