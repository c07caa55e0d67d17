"""The APT loop on the tiny model: artifacts, chaining of iterations, resume after kills, stop rules, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from openrlhf_weakness.apt.loop import best_model, stop_reason
from openrlhf_weakness.apt.loop_config import APTLoopConfig
from openrlhf_weakness.io import write_jsonl


def _rows(n: int, offset: int, kinds=("add", "sub")) -> list[dict]:
    rows = []
    for i in range(n):
        a, b, kind = (i + offset) % 9, (i * 3 + offset) % 7, kinds[i % len(kinds)]
        text, ans = (f"What is {a} plus {b}?", a + b) if kind == "add" else (f"What is {a} minus {b}?", a - b)
        rows.append({"prompt": text, "reference": str(ans), "datasource": kind})
    return rows


@pytest.fixture
def data(tmp_path):
    paths = {}
    for name, rows in {
        "train": _rows(6, 0),
        "dev": _rows(4, 100),
        "guard": _rows(3, 200, ("sub",)),
        "pool": _rows(40, 300),
    }.items():
        paths[name] = str(tmp_path / f"{name}.jsonl")
        write_jsonl(paths[name], rows)
    return paths


def _argv(tiny_model, data, run_dir, iterations=2, *extra):
    return [
        sys.executable,
        "-m",
        "openrlhf_weakness.cli.apt",
        "--loop.model",
        str(tiny_model),
        "--loop.run_dir",
        str(run_dir),
        "--loop.iterations",
        str(iterations),
        "--loop.patience",
        "5",
        "--loop.guard_max_drop",
        "1.0",
        "--data.train",
        data["train"],
        "--data.dev",
        data["dev"],
        "--data.guard",
        data["guard"],
        "--data.pool",
        data["pool"],
        "--gen.max_new_tokens",
        "6",
        "--gen.chat_template_enable",
        *extra,
        "--",
        "--train.micro_batch_size",
        "4",
        "--train.batch_size",
        "8",
        "--adam.lr",
        "1e-3",
        "--data.max_len",
        "64",
    ]


def test_two_iterations_on_the_tiny_model(tiny_model, data, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run(_argv(tiny_model, data, run), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for t in (0, 1):
        it = run / f"iter_{t}"
        for name in (
            "scored.jsonl",
            "similar.jsonl",
            "similar_scored.jsonl",
            "pairs.jsonl",
            "eval.json",
            "eval_dev.jsonl",
            "eval_guard.jsonl",
            "train.log",
        ):
            assert (it / name).exists(), f"iter_{t}/{name}"
        assert (it / "model" / "model.safetensors").exists() and not (it / "model.tmp").exists()
    final = json.loads((run / "final.json").read_text())
    assert [h["model"] for h in final["history"]] == [str(run / "iter_0" / "model"), str(run / "iter_1" / "model")]
    assert final["stopped"] == "finished 2 iteration(s)"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["loop"]["iterations"] == 2 and "openrlhf" in manifest["versions"]
    assert {d["action"] for d in manifest["stages"]} == {"computed"}  # a first run computes every stage
    report = (run / "report.md").read_text()
    assert "| M_0 |" in report and "| M_2 |" in report and (run / "scores.png").stat().st_size > 1000
    # the second iteration trained from the first's model, with it as reference (ref_policy previous)
    args = json.loads((run / "iter_1" / "train_args.json").read_text())["args"]
    assert args[args.index("--model.model_name_or_path") + 1] == str(run / "iter_0" / "model")
    assert args[args.index("--ref.model_name_or_path") + 1] == str(run / "iter_0" / "model")
    assert (run / "iter_1" / "model" / "apt_summary.json").exists() and final["history"][1]["train"]["margin"][
        "last"
    ] is not None
    pairs = [json.loads(line) for line in open(run / "iter_1" / "pairs.jsonl")]
    assert {p["iteration"] for p in pairs} == {1} and {"bad"} <= {p["source"] for p in pairs}


def test_stop_rules_on_planted_histories():
    cfg = APTLoopConfig(patience=2, guard_max_drop=0.1, min_gain=0.0)
    base = {"iteration": 0, "dev": 0.30, "guard": 0.50}
    assert stop_reason(base, [{"iteration": 1, "dev": 0.35, "guard": 0.48, "bad_cases": 5}], cfg) is None
    assert "guard score fell by 0.150" in stop_reason(
        base, [{"iteration": 1, "dev": 0.5, "guard": 0.35, "bad_cases": 5}], cfg
    )
    flat = [
        {"iteration": 1, "dev": 0.36, "guard": 0.5, "bad_cases": 3},
        {"iteration": 2, "dev": 0.30, "guard": 0.5, "bad_cases": 3},
        {"iteration": 3, "dev": 0.35, "guard": 0.5, "bad_cases": 3},
    ]
    assert stop_reason(base, flat[:2], cfg) is None  # one iteration without gain, patience 2
    assert "no domain gain for 2" in stop_reason(base, flat, cfg)
    assert stop_reason(base, [{"iteration": 1, "dev": 0.9, "bad_cases": 0}], cfg) == "no bad cases left"
    history = [{"iteration": 1, "dev": 0.6, "guard": 0.2}, {"iteration": 2, "dev": 0.4, "guard": 0.5}]
    assert best_model(base, history, cfg)["iteration"] == 2  # the best dev whose guard held


def test_no_bad_cases_stops_at_once(tiny_model, data, tmp_path):
    always = tmp_path / "always.py"
    always.write_text("def score(p, r, ref):\n    return 1.0\n")
    run = tmp_path / "run"
    argv = _argv(tiny_model, data, run, 2, "--assess.assessor", "function", "--assess.function_path", str(always))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = json.loads((run / "final.json").read_text())
    assert final["stopped"] == "no bad cases left" and final["history"] == [] and final["best"]["iteration"] == 0


def _wait_for(path_fn, proc, timeout=300):
    start = time.time()
    while time.time() - start < timeout:
        if path_fn():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def test_resume_after_kills_during_generation_and_training(tiny_model, data, tmp_path):
    run = tmp_path / "run"
    argv = _argv(tiny_model, data, run, 1)
    # 1) kill while the first iteration is answering (the response cache exists, scored.jsonl not yet)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert _wait_for(lambda: (run / "base" / "eval.json").exists(), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "iter_0" / "pairs.jsonl").exists()
    base_mtime = (run / "base" / "eval.json").stat().st_mtime_ns
    # 2) rerun, kill during training (model.tmp appears)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert _wait_for(lambda: (run / "iter_0" / "model.tmp").exists(), proc)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "iter_0" / "model").exists()  # nothing half-written looks finished
    pairs_mtime = (run / "iter_0" / "pairs.jsonl").stat().st_mtime_ns
    # 3) rerun to the end: finished stages are not recomputed
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "base" / "eval.json").stat().st_mtime_ns == base_mtime
    assert (run / "iter_0" / "pairs.jsonl").stat().st_mtime_ns == pairs_mtime
    assert (run / "iter_0" / "model" / "model.safetensors").exists() and not (run / "iter_0" / "model.tmp").exists()
    final = json.loads((run / "final.json").read_text())
    assert final["stopped"] == "finished 1 iteration(s)"
    actions = {d["stage"]: d["action"] for d in final["stages"]}
    assert actions["base/eval"] == actions["iter_0/pairs"] == "reused" and actions["iter_0/model"] == "computed"


def test_bad_input(tiny_model, data, tmp_path):
    no_refs = tmp_path / "noref.jsonl"
    write_jsonl(no_refs, [{"prompt": "What is 1 plus 1?"}])
    argv = _argv(tiny_model, data, tmp_path / "r1", 1)
    argv[argv.index("--data.train") + 1] = str(no_refs)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "noref.jsonl, line 1, key 'reference': missing" in proc.stderr
    assert "Traceback" not in proc.stderr

    argv = _argv(tiny_model, data, tmp_path / "r2", 1)
    argv[argv.index("--data.pool") + 1] = str(tmp_path / "missing-pool.jsonl")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "missing-pool.jsonl" in proc.stderr and "not found" in proc.stderr


def test_a_prompt_longer_than_the_context_is_one_line_naming_file_and_line(tiny_model, data, tmp_path):
    rows = _rows(3, 0)
    rows[1]["prompt"] = "What is " + " plus ".join(["1"] * 3000) + "?"  # far beyond the tiny model's 512 positions
    train = tmp_path / "long.jsonl"
    write_jsonl(train, rows)
    argv = _argv(tiny_model, data, tmp_path / "r", 1)
    argv[argv.index("--data.train") + 1] = str(train)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{train}:2: field 'prompt':" in proc.stderr and "--gen.max_new_tokens 6" in proc.stderr


def test_ledger_failures_join_the_first_round(tiny_model, data, tmp_path):
    from openrlhf_weakness.hooks.ledger import append_failures

    always = tmp_path / "always.py"
    always.write_text("def score(p, r, ref):\n    return 1.0\n")  # the model itself makes no mistakes here
    ledger = tmp_path / "ledger.jsonl"
    append_failures(
        ledger, [{"prompt": "What is 4 plus 4?", "response": "9", "label": "8", "score": 1, "datasource": "add"}]
    )
    run = tmp_path / "run"
    argv = _argv(
        tiny_model,
        data,
        run,
        1,
        "--assess.assessor",
        "function",
        "--assess.function_path",
        str(always),
        "--data.ledger",
        str(ledger),
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pairs = [json.loads(line) for line in open(run / "iter_0" / "pairs.jsonl")]
    bad = [p for p in pairs if p["source"] == "bad"]
    assert len(bad) == 1 and bad[0]["rejected"] == [{"role": "assistant", "content": "9"}]
    assert "1 bad cases from the ledger" in proc.stdout
