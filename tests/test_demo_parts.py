"""The demo's pieces: reasoning-gym splits are disjoint, the scorer is reasoning-gym's, the student converts offline."""

from __future__ import annotations

import json

from openrlhf_weakness.demo.data import build_demo_data
from openrlhf_weakness.demo.rg_score import extract_answer, score


def test_demo_splits_are_disjoint_and_tagged(tmp_path):
    paths = build_demo_data(tmp_path, train=40, dev=20, test=40, pool=120, guard=10)
    rows = {k: [json.loads(line) for line in open(p)] for k, p in paths.items()}
    assert {k: len(v) for k, v in rows.items()} == {"dev": 20, "test": 40, "guard": 10, "train": 40, "pool": 120}
    prompts = {k: {r["prompt"] for r in v} for k, v in rows.items()}
    for held_out in ("dev", "test", "guard"):
        assert not prompts[held_out] & prompts["train"] and not prompts[held_out] & prompts["pool"]
    assert not prompts["dev"] & prompts["test"]
    assert {r["datasource"] for r in rows["train"]} == {"chain_sum", "basic_arithmetic"}
    assert {"gcd", "lcm", "count_bits"} <= {r["datasource"] for r in rows["pool"]}
    again = build_demo_data(tmp_path, train=40, dev=20, test=40, pool=120, guard=10)
    assert again == paths  # reused, not rebuilt


def test_scorer_is_reasoning_gyms(tmp_path):
    row = json.loads(open(build_demo_data(tmp_path, 4, 2, 2, 8, 2)["test"]).readline())
    answer = json.loads(row["reference"])["answer"]
    assert score(row["prompt"], f"The result is {answer}.", row["reference"]) == 1.0
    assert score(row["prompt"], "The result is 123456.", row["reference"]) < 0.05
    assert extract_answer("first 3, then 1,024") == "1024" and extract_answer("none") == "none"


def test_student_converts_from_the_packaged_gguf_with_the_right_eos(smollm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openrlhf_weakness.demo.student import student_model

    path = student_model(smollm_dir)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tok.eos_token == "<|im_end|>" and model.config.eos_token_id == tok.eos_token_id
    assert sum(p.numel() for p in model.parameters()) > 100e6  # the real 135M model, not a stand-in
    batch = tok.apply_chat_template(
        [{"role": "user", "content": "Say hi."}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]
    assert student_model(smollm_dir) == path  # converted once


def test_stat_demo_data_has_every_skill_and_disjoint_splits(tmp_path):
    from openrlhf_weakness.demo.data import STAT_SKILLS as SKILLS
    from openrlhf_weakness.demo.data import build_stat_data as build_data

    paths = build_data(tmp_path, train=6, dev=3, test=3)
    rows = {k: [json.loads(line) for line in open(p)] for k, p in paths.items()}
    assert {r["skill"] for r in rows["train"]} == set(SKILLS) and len(rows["test"]) == 3 * len(SKILLS)
    prompts = {k: {r["input"] for r in v} for k, v in rows.items()}
    assert not prompts["train"] & prompts["test"] and not prompts["dev"] & prompts["test"]
    first = rows["train"][0]
    assert first["output"] == json.loads(first["reference"])["answer"]
    for row in rows["train"]:  # the skill, then the finer labels of its expression (generators that have one)
        has_expression = "expression" in json.loads(row["reference"])["metadata"]
        assert row["subskills"][0] == row["skill"]
        assert any(s.startswith("digits:") for s in row["subskills"]) == has_expression, row


def test_the_demos_are_compare_runs_whose_flags_its_parsers_take(tmp_path):
    """Both SmolLM demos hand cli.compare flags its own parsers (and the training plan's) accept."""
    from argparse import Namespace

    from openrlhf_weakness.cli import compare, demo, demo_stat
    from openrlhf_weakness.experiment.plans import parse_shared

    data = {s: str(tmp_path / f"{s}.jsonl") for s in ("train", "dev", "test", "pool", "guard")}
    stat_opts = Namespace(work_dir=str(tmp_path), size=64, epochs=1, lr=1e-5, subskills_enable=True)
    for argv in (
        demo.compare_argv(demo.DemoConfig(work_dir=str(tmp_path)), data, "student"),
        demo_stat.compare_argv(stat_opts, data, "student"),
    ):
        flags, training = compare.split_argv(argv)
        args = compare.build_parser().parse_args(flags)
        assert getattr(args, "gen.model") == "student" and getattr(args, "compare.seeds") == 1
        assert parse_shared(training).value("--train.batch_size") == "16"
    assert "--stat.skill_key subskills" in " ".join(demo_stat.compare_argv(stat_opts, data, "student"))
