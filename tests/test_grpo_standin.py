"""OpenRLHF's own GRPO (train_ppo_ray) on this CPU through the vLLM stand-in, with this project's reward hook and ledger.

One run (12 GRPO steps, group_norm, 8 prompts x 4 samples, a tiny Llama) serves every test here: the reward prefers
one-token answers that start with a letter, so the policy has something to learn in a few steps. Every eighth row's
label is one the hook cannot read: those samples get the fallback reward, counted in OpenRLHF's logs, and the run goes on.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from openrlhf_weakness.testing.grpo_run import run_train_grpo, tiny_grpo_argv, write_addition_prompts

STEPS = 12
SAMPLES_PER_STEP = 32
PREFERS_LETTERS = """
def score(prompt, response, reference):
    return 1.0 if response[:1].isalpha() else 0.0
"""


def starts_with_letter(text: str) -> bool:
    from openrlhf_weakness.hooks.rewarder import split_response

    return split_response(text, "")[:1].isalpha()


@pytest.fixture(scope="module")
def grpo(tiny_model, tmp_path_factory):
    from openrlhf_weakness.cli.reward_hook_path import hook_path

    work = tmp_path_factory.mktemp("grpo")
    (work / "prefers_letters.py").write_text(PREFERS_LETTERS)
    prompts = write_addition_prompts(work / "prompts.jsonl", 8 * STEPS)
    rows = read_jsonl(prompts)
    for row in rows[::8]:
        row["label"] = json.dumps({"no_answer_here": 1})
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    env = {
        "ORW_REWARD_ASSESSOR": "function",
        "ORW_REWARD_FUNCTION_PATH": str(work / "prefers_letters.py"),
        "ORW_REWARD_LEDGER": str(work / "ledger.jsonl"),
        "ORW_REWARD_NUM_WORKERS": "1",
    }
    argv = tiny_grpo_argv(str(tiny_model), str(prompts), str(work / "out"), hook_path(), steps=STEPS)
    run = run_train_grpo([*argv, "--standin.trace", str(work / "trace.jsonl")], env=env)
    assert run.returncode == 0, run.output[-6000:]
    run.work, run.prompts, run.model = work, prompts, tiny_model
    return run


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path)]


def test_the_stand_in_is_named_and_every_grpo_step_ran(grpo):
    assert "rollout engines are the vLLM STAND-IN" in grpo.output
    assert "vLLM stand-in: this rollout engine generates with transformers" in grpo.output
    assert sorted(grpo.steps) == list(range(1, STEPS + 1))
    assert all(s["rollout/num_samples"] == SAMPLES_PER_STEP for s in grpo.steps.values())


def test_the_hook_sees_real_labels_and_its_rewards_reach_openrlhf(grpo):
    ledger = read_jsonl(grpo.work / "ledger.jsonl")
    assert ledger, "the hook wrote no failures"
    assert not [
        row for row in ledger if "no_answer_here" in row["label"]
    ]  # unreadable labels are faults, not failures
    for row in ledger:
        a, b = map(int, re.search(r"What is (\d) plus (\d)\?", row["prompt"]).groups())
        assert json.loads(row["label"]) == {"answer": str(a + b), "datasource": "add", "question": row["input"]}
        assert row["score"] == 1 and not starts_with_letter(row["response"]) and row["datasource"] == "add"
    failures = Counter(row["step"] for row in ledger)
    assert set(failures) <= set(range(1, STEPS + 1))
    faults = 0.0
    for step, status in grpo.steps.items():  # reward 1 per success, 0 per failure or fault: the mean OpenRLHF logged
        faults += status["hook_faults"] * SAMPLES_PER_STEP  # OpenRLHF averages the hook's per-call counts
        expected = 1 - (failures[step] + status["hook_faults"] * SAMPLES_PER_STEP) / SAMPLES_PER_STEP
        assert status["rollout/reward_mean"] == pytest.approx(expected, abs=1e-6)
    assert faults == pytest.approx(STEPS * SAMPLES_PER_STEP / 8)  # one prompt in eight, its 4 samples, every step


def test_the_preferred_answers_gain_probability(grpo):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(grpo.model)
    letters = torch.tensor([starts_with_letter(tokenizer.decode([i])) for i in range(len(tokenizer))])
    questions = [json.loads(line)["input"] for line in open(grpo.prompts)]

    def letter_mass(folder) -> float:
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        masses = []
        for question in questions:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
            with torch.no_grad():
                probs = torch.softmax(model(ids).logits[0, -1].float(), -1)
            masses.append(probs[letters].sum().item())
        return sum(masses) / len(masses)

    before, after = letter_mass(grpo.model), letter_mass(grpo.work / "out")
    assert after > before + 0.2, (before, after)  # the step-level reward means are too noisy at 32 samples to test


def test_each_step_generates_with_the_weights_trained_the_step_before(grpo):
    from transformers import AutoModelForCausalLM

    from openrlhf_weakness.rollout.weight_sync import state_digest

    trace = read_jsonl(grpo.work / "trace.jsonl")
    sent = [row["digest"] for row in trace if row["event"] == "send"]
    received = [row["digest"] for row in trace if row["event"] == "recv"]
    assert sent and sent == received  # every tensor the policy broadcast arrived intact, in order
    syncs = [row for row in trace if row["event"] == "sync"]
    assert [s["round"] for s in syncs] == list(range(1, STEPS + 1))  # one weight sync after each training step
    digest_after = {0: trace[0]["digest"], **{s["round"]: s["digest"] for s in syncs}}
    assert len(set(digest_after.values())) == STEPS + 1  # training changed the weights every step
    generations = [row for row in trace if row["event"] == "generate"]
    assert {g["sync_round"] for g in generations} == set(range(STEPS))
    for g in generations:  # step t+1 generates with what step t trained
        assert g["digest"] == digest_after[g["sync_round"]]
    saved = AutoModelForCausalLM.from_pretrained(grpo.work / "out")
    assert state_digest(saved.named_parameters()) == digest_after[STEPS]


def test_the_next_rounds_read_the_ledger(grpo, tmp_path):
    """APT's pairs (cli.build_pairs --data.bad) and STAT's difficult questions (cli.stat --data.ledger) take GRPO's
    failures, each with its row's real answer."""
    from openrlhf_weakness.cli import build_pairs, stat
    from openrlhf_weakness.io import load_rows, write_jsonl

    ledger = grpo.work / "ledger.jsonl"
    rows = [row for _, row in load_rows(ledger, ["prompt", "response", "label", "score", "step"])[0]]
    answers = [json.loads(row["label"])["answer"] for row in rows]

    build_pairs.main(
        ["--data.bad", str(ledger), "--data.reference_key", "label", "--data.output", str(tmp_path / "pairs.jsonl")]
    )
    pairs = read_jsonl(tmp_path / "pairs.jsonl")
    assert [p["chosen"] for p in pairs] == answers and [p["rejected"] for p in pairs] == [r["response"] for r in rows]

    write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"input": "What is 1 plus 1?", "output": "2", "k": "add"},
            {"input": "Is 3 odd?", "output": "yes", "k": "odd"},
        ],
    )
    write_jsonl(tmp_path / "dev.jsonl", [{"input": "Is 5 odd?", "reference": "yes", "k": "odd"}])
    (tmp_path / "always.py").write_text("def score(p, r, ref):\n    return 1.0\n")  # dev has no failure of its own
    run = tmp_path / "stat"
    stat.main(
        [
            "--data.train",
            str(tmp_path / "train.jsonl"),
            "--data.dev",
            str(tmp_path / "dev.jsonl"),
            "--stat.run_dir",
            str(run),
            "--gen.model",
            str(grpo.model),
            "--gen.max_new_tokens",
            "2",
            "--stat.skill_key",
            "k",
            "--assess.assessor",
            "function",
            "--assess.function_path",
            str(tmp_path / "always.py"),
            "--data.ledger",
            str(ledger),
        ]
    )
    missing = read_jsonl(run / "missing.jsonl")
    assert len(missing) == len(rows) and all(m["missing"] == ["add"] for m in missing)
    assert [m["reference"] for m in missing] == answers
    assert [m["input"] for m in missing] == [
        json.loads(r["label"])["question"] for r in rows
    ]  # as written, untemplated
    assert all(m["input"].startswith("What is") and "<|im_start|>" in r["prompt"] for m, r in zip(missing, rows))


DIES_MID_STEP = """
import os

from openrlhf.utils.agent import AgentExecutorBase


class AgentExecutor(AgentExecutorBase):
    async def execute(self, *args, **kwargs):
        os._exit(3)  # the rollout actor hosting the agent dies mid-step
"""


@pytest.mark.slow
def test_a_rollout_actor_that_dies_stops_the_run_with_one_line(tiny_model, tmp_path):
    from openrlhf_weakness.cli.reward_hook_path import hook_path

    (tmp_path / "dies.py").write_text(DIES_MID_STEP)
    prompts = write_addition_prompts(tmp_path / "prompts.jsonl", 8)
    argv = tiny_grpo_argv(str(tiny_model), str(prompts), str(tmp_path / "out"), hook_path(), steps=1)
    run = run_train_grpo([*argv, "--train.agent_func_path", str(tmp_path / "dies.py")], timeout=600)
    assert run.returncode == 2, run.output[-4000:]
    last = [line for line in run.output.splitlines() if line.startswith("openrlhf_weakness.cli.train_grpo: stopped")]
    assert len(last) == 1 and "RolloutRayActor" in last[0], run.output[-4000:]
