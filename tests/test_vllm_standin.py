"""The vLLM stand-in's engine in-process (no Ray): what OpenRLHF's rollout code reads from it, checked on values."""

from __future__ import annotations

import asyncio

import pytest

from openrlhf_weakness.cli.train_grpo import standin_argv
from openrlhf_weakness.rollout.sampling import SamplingParams


@pytest.fixture(scope="module")
def engine(tiny_model):
    from openrlhf_weakness.rollout.hf_engine import AsyncEngineArgs, HFRolloutEngine

    async def build():
        return HFRolloutEngine.from_engine_args(AsyncEngineArgs(model=str(tiny_model), seed=0, dtype="bfloat16"))

    return asyncio.run(build())


def generate(engine, prompts, params):
    async def one(ids):
        async for out in engine.generate({"prompt_token_ids": ids}, params, request_id="r"):
            return out

    async def all_of():
        return await asyncio.gather(*(one(ids) for ids in prompts))

    return asyncio.run(all_of())


def prompt_ids(engine, text="What is 2 plus 3?"):
    return engine.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_generation_honours_n_max_tokens_and_reports_processed_logprobs(engine):
    import torch

    params = SamplingParams(n=3, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=5, logprobs=1)
    ids = prompt_ids(engine)
    (out,) = generate(engine, [ids], params)
    assert len(out.outputs) == 3 and out.prompt_token_ids == ids
    for completion in out.outputs:
        assert 1 <= len(completion.token_ids) <= 5
        assert completion.finish_reason == ("length" if len(completion.token_ids) == 5 else "stop")
        first = completion.token_ids[0]
        with torch.no_grad():  # temperature 1, no top-p/k: the processed distribution is the model's own
            logits = engine.model(torch.tensor([ids])).logits[0, -1].float()
        expected = torch.log_softmax(logits, -1)[first].item()
        assert completion.logprobs[0][first].logprob == pytest.approx(expected, abs=1e-4)


def test_concurrent_requests_share_one_batch_and_match_their_prompts(engine, tmp_path, monkeypatch):
    from openrlhf_weakness.rollout.trace import Trace

    engine.trace = Trace(str(tmp_path / "trace.jsonl"))
    params = SamplingParams(temperature=0.0, max_tokens=4)
    prompts = [prompt_ids(engine, f"What is {i} plus 1?") for i in range(6)]
    together = generate(engine, prompts, params)
    alone = [generate(engine, [p], params)[0] for p in prompts]  # greedy: batching must not change an answer
    assert [o.outputs[0].token_ids for o in together] == [o.outputs[0].token_ids for o in alone]
    assert [o.prompt_token_ids for o in together] == prompts
    batches = [line for line in open(tmp_path / "trace.jsonl") if '"generate"' in line]
    assert len(batches) == 1 + len(prompts) and '"requests": 6' in batches[0]
    assert engine.output_processor.get_num_unfinished_requests() == 0
    engine.trace = Trace(None)


def test_top_k_one_is_greedy_and_stop_strings_end_the_text(engine):
    ids = prompt_ids(engine)
    greedy = generate(engine, [ids], SamplingParams(temperature=0.0, max_tokens=6))[0].outputs[0]
    top1 = generate(engine, [ids], SamplingParams(temperature=1.0, top_k=1, max_tokens=6))[0].outputs[0]
    assert top1.token_ids == greedy.token_ids
    stop = greedy.text[2:4]
    if stop.strip():
        cut = generate(engine, [ids], SamplingParams(temperature=0.0, max_tokens=6, stop=[stop]))[0].outputs[0]
        assert stop not in cut.text and cut.finish_reason == "stop"


def test_sleep_level_two_refuses_generation_until_weights_return(engine):
    from openrlhf_weakness.rollout.hf_engine import StandInError

    asyncio.run(engine.sleep(level=1))
    assert asyncio.run(engine.is_sleeping())
    with pytest.raises(StandInError, match="sleeps"):
        generate(engine, [prompt_ids(engine)], SamplingParams(max_tokens=2))
    asyncio.run(engine.wake_up())
    assert not asyncio.run(engine.is_sleeping())
    assert generate(engine, [prompt_ids(engine)], SamplingParams(max_tokens=2))[0].outputs


def test_the_command_adjusts_openrlhf_flags_for_the_stand_in_and_says_so():
    argv, notes = standin_argv(["--vllm.sync_backend", "nccl", "--ds.attn_implementation", "flash_attention_2"], False)
    assert argv[argv.index("--vllm.sync_backend") + 1] == "gloo"
    assert argv[argv.index("--vllm.num_engines") + 1] == "1"
    assert argv[argv.index("--ds.attn_implementation") + 1] == "eager"
    assert len(notes) == 3
    kept, notes = standin_argv(["--vllm.sync_backend=gloo", "--vllm.num_engines", "2"], True)
    assert kept == ["--vllm.sync_backend=gloo", "--vllm.num_engines", "2"] and notes == []


def test_sync_with_ray_is_refused_with_one_line(capsys):
    from openrlhf_weakness.cli import train_grpo

    with pytest.raises(SystemExit) as stop:
        train_grpo.main(["--vllm.sync_with_ray", "--standin.vllm", "on"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "openrlhf_weakness.cli.train_grpo: --vllm.sync_with_ray is not supported with the vLLM stand-in (drop it; "
        "gloo is used)"
    )


def test_the_stand_in_is_never_taken_for_the_real_vllm(standin_on_path):
    import importlib.util

    from openrlhf_weakness.cli.train_grpo import use_standin
    from openrlhf_weakness.rollout import real_vllm_available

    assert importlib.util.find_spec("vllm").origin.startswith(standin_on_path)  # importable as `vllm`, yet:
    assert not real_vllm_available()
    assert use_standin("auto") and use_standin("on") and not use_standin("off")


def test_help_lists_the_stand_in_flags_and_openrlhfs_own():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.train_grpo", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--standin.vllm" in proc.stdout and "STAND-IN FOR vLLM" in proc.stdout
    assert (
        "--reward.remote_url" in proc.stdout and "--algo.advantage.estimator" in proc.stdout
    )  # train_ppo_ray's parser
