"""retrieve -> build_pairs -> train_apt on the tiny model: the pairs load through OpenRLHF's RewardDataset."""

from __future__ import annotations

import json
import random

import pytest

from openrlhf_weakness.cli import build_pairs, retrieve
from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import run_training

KINDS = {
    "add": ("What is {a} plus {b}?", lambda a, b: a + b),
    "mul": ("Compute {a} times {b}.", lambda a, b: a * b),
    "gcd": ("Find the greatest common divisor of {a} and {b}.", lambda a, b: __import__("math").gcd(a, b)),
}


def _row(kind: str, a: int, b: int) -> dict:
    template, fn = KINDS[kind]
    return {"prompt": template.format(a=a, b=b), "reference": str(fn(a, b)), "datasource": kind}


@pytest.fixture
def files(tmp_path):
    rng = random.Random(0)
    pool = [_row(rng.choice(list(KINDS)), rng.randint(1, 99), rng.randint(1, 99)) for _ in range(150)]
    pool.append({"prompt": "", "reference": "0", "datasource": "add"})  # a row without text: counted, never chosen
    pool.append(dict(_row("add", 12, 13), prompt="What is 12 plus 13? Explain."))  # planted: in the eval set
    bad = [
        dict(
            _row("add", 37, 48),
            response="104",
            score=1,
            bad=True,  # its samples hold a right answer
            responses=["95", "The sum is 85.", "104"],
            scores=[1, 5, 1],
        ),
        dict(_row("mul", 12, 11), response="122", score=1, bad=True, responses=["122"], scores=[1]),
        dict(_row("gcd", 8, 12), response="4", score=5, bad=False),
    ]
    write_jsonl(tmp_path / "pool.jsonl", pool)
    write_jsonl(tmp_path / "scored.jsonl", bad)
    write_jsonl(tmp_path / "eval.jsonl", [{"prompt": "What is 12 plus 13? Explain."}])
    return tmp_path


def test_retrieve_then_pairs_then_train_apt(files, tiny_model, capsys):
    argv = [
        "--data.bad",
        str(files / "scored.jsonl"),
        "--data.pool",
        str(files / "pool.jsonl"),
        "--data.output",
        str(files / "similar.jsonl"),
        "--data.eval_files",
        str(files / "eval.jsonl"),
        "--retrieve.cache_dir",
        str(files / "emb"),
        "--retrieve.scale",
        "2",
        "--retrieve.decontam_ngram",
        "5",
    ]
    assert retrieve.main(argv) == 0
    similar = [json.loads(line) for line in open(files / "similar.jsonl")]
    assert len(similar) == 4  # 2 bad cases x scale 2
    assert {r["datasource"] for r in similar} == {"add", "mul"}  # tags match their bad cases
    assert all(r["prompt"] and "12 plus 13" not in r["prompt"] for r in similar)
    summary = json.loads((files / "similar.jsonl.summary.json").read_text())
    assert summary["counts"]["pool_rows_contaminated"] == 1 and summary["counts"]["pool_rows_empty_text"] == 1
    assert summary["hits_per_tag"] == {"add": 2, "mul": 2} and "mean similarity" in capsys.readouterr().out

    for i, row in enumerate(similar):  # what generate + assess would add: the model's answers and their scores
        row.update(response=row["reference"] if i % 2 else "7", score=5 if i % 2 else 1)
    write_jsonl(files / "similar_scored.jsonl", similar)
    assert (
        build_pairs.main(
            [
                "--data.bad",
                str(files / "scored.jsonl"),
                "--data.similar",
                str(files / "similar_scored.jsonl"),
                "--data.output",
                str(files / "pairs.jsonl"),
                "--data.iteration",
                "3",
                "--pairs.similar_weight",
                "0.5",
                "--pairs.chosen",
                "self_correct",
                "--pairs.rejected",
                "sampled_wrong",
            ]
        )
        == 0
    )
    pairs = [json.loads(line) for line in open(files / "pairs.jsonl")]
    assert [p["source"] for p in pairs] == ["bad", "bad", "similar", "similar", "similar", "similar"]
    # chosen: the model's own right sample; rejected: one of its wrong samples (the reference where none is right)
    assert pairs[0]["chosen"] == "The sum is 85." and pairs[0]["rejected"] in ("95", "104")
    assert pairs[1]["chosen"] == "132" and pairs[1]["rejected"] == "122"
    assert ["rejected" in p for p in pairs[2:]] == [True, False, True, False]
    assert all(p["iteration"] == 3 for p in pairs) and pairs[2]["weight"] == 0.5 and pairs[2]["retrieved_for"]

    out = files / "apt"
    args = [
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        str(files / "pairs.jsonl"),
        "--data.prompt_key",
        "prompt",
        "--train.micro_batch_size",
        "2",
        "--train.batch_size",
        "2",
        "--ds.attn_implementation",
        "eager",
        "--data.max_len",
        "64",
        "--ckpt.output_dir",
        str(out),
        "--apt.weight_key",
        "weight",
    ]
    run_training("openrlhf_weakness.cli.train_apt", args, files / "train.log", use_launcher=False)
    metrics = [json.loads(line) for line in open(out / "apt_metrics.jsonl")]
    assert len(metrics) == 3 and {"bad/loss", "similar/sft_loss"} <= set().union(*metrics)


def test_chat_format_pairs(files):
    write_jsonl(files / "similar.jsonl", [])
    build_pairs.main(
        [
            "--data.bad",
            str(files / "scored.jsonl"),
            "--data.output",
            str(files / "pairs.jsonl"),
            "--data.chat_template_enable",
        ]
    )
    first = json.loads(open(files / "pairs.jsonl").readline())
    assert first["prompt"] == [{"role": "user", "content": "What is 37 plus 48?"}]
    assert first["rejected"] == [{"role": "assistant", "content": "104"}]


def test_retrieve_bad_input(files, tmp_path):
    write_jsonl(tmp_path / "empty.jsonl", [])
    base = [
        "--data.bad",
        str(files / "scored.jsonl"),
        "--data.output",
        str(tmp_path / "o.jsonl"),
        "--retrieve.cache_dir",
        str(tmp_path / "emb"),
    ]
    with pytest.raises(SystemExit, match="the file holds no rows"):
        retrieve.main(base + ["--data.pool", str(tmp_path / "empty.jsonl")])
    write_jsonl(tmp_path / "bad_empty_text.jsonl", [{"prompt": " ", "bad": True}])
    with pytest.raises(SystemExit, match=r"line 1, key 'prompt': empty text"):
        retrieve.main(
            [
                "--data.bad",
                str(tmp_path / "bad_empty_text.jsonl"),
                "--data.pool",
                str(files / "pool.jsonl"),
                "--data.output",
                str(tmp_path / "o.jsonl"),
                "--retrieve.cache_dir",
                str(tmp_path / "emb"),
            ]
        )
    write_jsonl(tmp_path / "similar_missing.jsonl", [{"prompt": "q", "reference": "1"}])
    with pytest.raises(SystemExit, match=r"line 1, key 'response': missing"):
        build_pairs.main(
            [
                "--data.bad",
                str(files / "scored.jsonl"),
                "--data.similar",
                str(tmp_path / "similar_missing.jsonl"),
                "--data.output",
                str(tmp_path / "p.jsonl"),
            ]
        )
