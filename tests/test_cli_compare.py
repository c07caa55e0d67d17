"""cli.compare and cli.evaluate end to end on tiny models and data written here: two arms over two seeds with their
paired table, per-question scores on disk, a failed arm reported with its log while the others finish, a rerun that
reuses every finished cell, and the same scores from cli.evaluate. The quick tests register two arms that hand back
tiny models instead of training (scoring, statistics, resume and the CLI are the real ones); the slow test trains APT
and its same-budget SFT baseline."""

from __future__ import annotations

import contextlib
import io
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


def _argv(model, data: dict, work, arms: str) -> list[str]:
    argv = ["--gen.model", str(model), "--gen.max_new_tokens", "6", "--gen.chat_template_enable"]
    argv += [t for s, p in data.items() for t in (f"--data.{s}", p)]
    argv += ["--data.input_key", "question", "--data.reference_key", "answer", "--data.datasource_key", "kind"]
    argv += ["--retrieve.tag_key", "kind", "--assess.num_workers", "1", "--loop.iterations", "1"]
    argv += ["--compare.arms", arms, "--compare.seeds", "2", "--compare.work_dir", str(work)]
    argv += ["--", "--train.micro_batch_size", "4", "--train.batch_size", "8", "--adam.lr", "1e-3"]
    return argv + ["--data.max_len", "64", "--train.max_epochs", "1", "--ds.param_dtype", "fp32"]


def _compare(argv: list[str]) -> tuple[int, str]:
    from openrlhf_weakness.cli.compare import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare_data")
    paths = {}
    for name, rows in SPLITS.items():
        paths[name] = str(folder / f"{name}.jsonl")
        write_jsonl(paths[name], rows)
    return paths


SCORER = """
def score(prompt, response, reference):
    return 1.0 if "plus" in prompt else 0.0
"""
EXPECTED = {split: [1.0 if r["kind"] == "add" else 0.0 for r in SPLITS[split]] for split in ("dev", "guard", "test")}


@pytest.fixture(scope="module")
def quick_run(tiny_model, data, tmp_path_factory):
    """Arms tiny_a and tiny_b hand back tiny models (checking that the shared plan reached them); stat_sel fails (no
    --stat.skill_key and no teacher). The user's assessor scores "plus" questions right. (work dir, argv, stdout)."""
    from openrlhf_weakness.experiment.arms import ARMS, Arm
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    folder = tmp_path_factory.mktemp("compare_quick")
    other = build_tiny_model(folder / "other-llama", seed=1)

    def handing_back(path):
        def train(ctx, seed, plan):
            assert plan.value("--adam.lr") == "1e-3" and plan.value("--train.batch_size") == "8"
            return str(path), {"rows": 10 + seed}

        return train

    ARMS["tiny_a"] = Arm("tiny_a", handing_back(tiny_model), "test arm")
    ARMS["tiny_b"] = Arm("tiny_b", handing_back(other), "test arm")
    (folder / "scorer.py").write_text(SCORER)
    argv = _argv(tiny_model, data, folder / "work", "tiny_a,tiny_b,stat_sel")
    argv[argv.index("--") : argv.index("--")] = [
        "--assess.assessor",
        "function",
        "--assess.function_path",
        str(folder / "scorer.py"),
    ]
    try:
        code, printed = _compare(argv)
        assert code == 1, printed[-3000:]  # one arm failed
        yield folder / "work", argv, printed
    finally:
        del ARMS["tiny_a"], ARMS["tiny_b"]


def test_two_arms_two_seeds_scored_and_compared(quick_run):
    work, _, printed = quick_run
    for arm in ("tiny_a", "tiny_b"):
        for seed in (0, 1):
            cell = json.loads((work / "results" / f"{arm}-s{seed}.json").read_text())
            assert cell["status"] == "done" and cell["seed"] == seed and cell["rows"] == 10 + seed
            assert cell["scores"] == EXPECTED  # per question, through the user's --assess.* function
    summary = json.loads((work / "summary.json").read_text())
    assert set(summary["arms"]) == {"base", "tiny_a", "tiny_b"} and summary["arms"]["tiny_a"]["seeds"] == [0, 1]
    assert summary["n_test"] == 6 and summary["skills"] == ["add", "sub"]
    assert summary["arms"]["tiny_b"]["mean"] == 0.5 and summary["arms"]["tiny_b"]["guard"]["mean"] == 0.0
    assert summary["arms"]["tiny_b"]["by_skill"]["add"]["mean"] == 1.0
    assert summary["comparisons"]["tiny_b_vs_base"]["mean"] == 0.0
    assert summary["comparisons"]["tiny_b_vs_base"]["verdict"] == "no measurable difference"
    assert summary["budget"]["lr"] == "1e-3" and "--ds.param_dtype" in summary["budget"]["training_flags"]
    for line in ("| tiny_a | 2 | 0.500 [", "| tiny_b | 2 | 0.500 [", "| base | 1 |", "| tiny_a_vs_base |"):
        assert line in printed
    from openrlhf_weakness.experiment.summary import read_scores

    scores = read_scores(work / "summary.scores.jsonl.gz")  # any interval can be recomputed from these
    tiny_b = [r["score"] for r in scores if r["arm"] == "tiny_b" and r["seed"] == 1 and r["split"] == "test"]
    assert tiny_b == EXPECTED["test"] and len(scores) == 5 * (4 + 3 + 6)
    assert {r["datasource"] for r in scores if r["split"] == "guard"} == {"sub"}


def test_a_failed_arm_is_reported_with_its_log(quick_run):
    work, _, printed = quick_run
    failed = json.loads((work / "results" / "stat_sel-s0.json").read_text())
    assert failed["status"] == "failed" and "teacher" in failed["error"]
    assert "Traceback" in open(failed["log"]).read()
    assert f"| stat_sel | seed 0 FAILED | {failed['error']} (log: {failed['log']})" in printed
    assert "stat_sel seed 1 FAILED" in printed and failed["log"] in printed


def test_a_rerun_reuses_finished_cells(quick_run):
    work, argv, _ = quick_run
    before = {p.name: p.stat().st_mtime_ns for p in (work / "results").glob("*.json")}
    argv = list(argv)
    argv[argv.index("tiny_a,tiny_b,stat_sel")] = "tiny_a,tiny_b"
    code, printed = _compare(argv)
    assert code == 0
    after = {p.name: p.stat().st_mtime_ns for p in (work / "results").glob("*.json")}
    assert all(after[name] == before[name] for name in before)
    assert printed.count("reused") == 5  # base and two arms over two seeds: nothing trained or scored again
    assert "| tiny_a_vs_base |" in printed


def test_changed_settings_compute_cells_again(quick_run, tmp_path):
    """A finished cell is reused only under the same settings: other generation settings score every cell again."""
    work, argv, _ = quick_run
    argv = list(argv)
    argv[argv.index("tiny_a,tiny_b,stat_sel")] = "tiny_a"
    argv[argv.index("--compare.work_dir") + 1] = str(tmp_path)
    assert _compare(argv)[0] == 0
    argv[argv.index("--gen.max_new_tokens") + 1] = "5"
    code, printed = _compare(argv)
    assert code == 0 and printed.count("settings changed") == 3 and "reused" not in printed


def test_unknown_arms_and_training_flags_are_refused_before_any_work(tiny_model, data, tmp_path, capsys):
    from openrlhf_weakness.cli import CliError

    with pytest.raises(CliError):
        _compare(_argv(tiny_model, data, tmp_path, "apt,stat_sel_samplr"))
    assert "unknown arm(s) stat_sel_samplr" in capsys.readouterr().err
    with pytest.raises(CliError):
        _compare(_argv(tiny_model, data, tmp_path, "apt") + ["--data.dataset", "x.jsonl"])
    assert "--data.dataset are set by each arm" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_the_test_split_as_parquet_gives_the_same_summary(quick_run, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    work, argv, _ = quick_run
    parquet = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist(SPLITS["test"]), parquet)
    expected = json.loads((work / "summary.json").read_text())
    argv = list(argv)
    argv[argv.index("--data.test") + 1] = str(parquet)
    argv[argv.index("tiny_a,tiny_b,stat_sel")] = "tiny_a,tiny_b"
    code, _ = _compare(argv)
    assert code == 0
    summary = json.loads((work / "summary.json").read_text())
    assert summary["arms"]["tiny_a"] == expected["arms"]["tiny_a"] and summary["n_test"] == 6


def test_evaluate_scores_two_models_as_compare_does(quick_run, tiny_model, data, tmp_path, capsys):
    from openrlhf_weakness.cli.evaluate import main

    work, argv, _ = quick_run
    other = json.loads((work / "results" / "tiny_b-s0.json").read_text())["model"]
    scorer = argv[argv.index("--assess.function_path") + 1]
    ev = ["--eval.models", str(tiny_model), "--eval.models", other, "--eval.work_dir", str(tmp_path / "ev")]
    ev += ["--data.dev", data["dev"], "--data.guard", data["guard"], "--data.test", data["test"]]
    ev += ["--data.input_key", "question", "--data.reference_key", "answer", "--data.datasource_key", "kind"]
    ev += ["--gen.max_new_tokens", "6", "--gen.chat_template_enable", "--assess.num_workers", "1"]
    ev += ["--assess.assessor", "function", "--assess.function_path", scorer]
    assert main(ev) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    assert set(result) == {str(tiny_model), other}
    for model in result:
        for split, expected in EXPECTED.items():
            assert result[model][split] == {"score": sum(expected) / len(expected), "n": len(expected)}
    assert "| model | seed | dev | guard | test |" in printed and f"| {other} | 0 | 0.500 | 0.000 | 0.500 |" in printed
    from openrlhf_weakness.experiment.summary import read_scores

    scores = read_scores(tmp_path / "ev" / "evaluate.scores.jsonl.gz")
    assert [r["score"] for r in scores if r["arm"] == other and r["split"] == "dev"] == EXPECTED["dev"]


SPEC = {
    "title": "tiny",
    "metric": {"name": "score", "weak_skills": ["sub"], "weak_skills_rule": "the scorer fails every sub question"},
    "comparisons": [
        {"name": "b_over_a", "a": "tiny_b", "b": "tiny_a", "goal": {"kind": "at_least", "value": 0.03}},
        {"name": "b_weak", "a": "tiny_b", "b": "tiny_a", "questions": "weak_skills"},
        {"name": "b_vs_base", "a": "tiny_b", "b": "base", "fixed": "b", "goal": {"kind": "within", "value": 0.02}},
        {"name": "no_such_arm", "a": "tiny_c", "b": "tiny_a"},
    ],
    "noise_floors": [{"name": "two tiny arms", "a": "tiny_a", "b": "tiny_b"}],
}


def test_register_then_score_test_once_with_the_registered_verdicts(quick_run, tmp_path, capsys):
    """--compare.register writes the pre-registration and trains nothing; the same command then scores test and
    reports the registered comparisons; other settings are refused before anything is scored."""
    from openrlhf_weakness.cli import CliError

    _, argv, _ = quick_run
    argv = list(argv)
    argv[argv.index("tiny_a,tiny_b,stat_sel")] = "tiny_a,tiny_b"
    argv[argv.index("--compare.work_dir") + 1] = str(tmp_path / "work")
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    prereg = tmp_path / "prereg.json"
    cut = argv.index("--")
    registered = argv[:cut] + ["--compare.preregistration", str(prereg)] + argv[cut:]
    code, printed = _compare(registered[:cut] + ["--compare.register", str(tmp_path / "spec.json")] + registered[cut:])
    assert code == 0 and "registered:" in printed and prereg.exists() and not (tmp_path / "work" / "results").exists()
    with pytest.raises(CliError):  # written once, never over
        _compare(registered[:cut] + ["--compare.register", str(tmp_path / "spec.json")] + registered[cut:])
    assert "never rewritten" in capsys.readouterr().err

    code, printed = _compare(registered)
    assert code == 0, printed[-2000:]
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    import hashlib

    assert summary["preregistration"] == hashlib.sha256(prereg.read_bytes()).hexdigest()
    verdicts = {v["name"]: v for v in summary["registered"]}
    assert list(verdicts) == ["b_over_a", "b_weak", "b_vs_base", "no_such_arm", "noise floor: two tiny arms"]
    assert "no scores for arm 'tiny_c'" in verdicts["no_such_arm"]["error"]  # reported, and the others still are
    assert verdicts["b_over_a"]["mean_diff"] == 0.0 and verdicts["b_over_a"]["goal_met"] is False
    assert verdicts["b_weak"]["n_questions"] == 3 and verdicts["b_vs_base"]["goal_met"] is True
    assert f"Pre-registered (sha256 {summary['preregistration'][:16]})" in printed and "[b_over_a, test" in printed

    other = list(registered)
    other[other.index("--compare.seeds") + 1] = "1"
    with pytest.raises(CliError):
        _compare(other)
    assert "seeds: registered 2, this run 1" in capsys.readouterr().err


@pytest.mark.slow
def test_apt_against_its_same_budget_sft_baseline(tiny_model, data, tmp_path):
    """The real arms on the tiny model (about 6 minutes on 2 busy cores): APT, and SFT on as many rows as APT's first
    pairs, two seeds each; the math assessor."""
    code, printed = _compare(_argv(tiny_model, data, tmp_path, "apt,sft_same_budget"))
    assert code == 0, printed[-3000:]
    for arm in ("apt", "sft_same_budget"):
        for seed in (0, 1):
            cell = json.loads((tmp_path / "results" / f"{arm}-s{seed}.json").read_text())
            assert cell["status"] == "done" and {s: len(v) for s, v in cell["scores"].items()} == {
                "dev": 4,
                "guard": 3,
                "test": 6,
            }
            assert all(0.0 <= v <= 1.0 for values in cell["scores"].values() for v in values)
    sft = json.loads((tmp_path / "results" / "sft_same_budget-s0.json").read_text())
    pairs = sum(1 for _ in open(tmp_path / "apt-s0" / "iter_0" / "pairs.jsonl"))
    assert sft["rows"] == pairs  # the same budget as APT's first iteration
    assert (tmp_path / "arms" / "sft_same_budget-s0" / "config.json").exists()
    args = json.loads((tmp_path / "apt-s1" / "iter_0" / "train_args.json").read_text())["args"]
    assert args[args.index("--train.seed") + 1] == "1" and args[args.index("--adam.lr") + 1] == "1e-3"
    summary = json.loads((tmp_path / "summary.json").read_text())
    diff = summary["comparisons"]["apt_vs_sft"]
    assert -1.0 <= diff["ci_low"] <= diff["mean"] <= diff["ci_high"] <= 1.0
    assert "| apt | 2 |" in printed and "| sft_same_budget | 2 |" in printed and "| apt_vs_sft |" in printed
