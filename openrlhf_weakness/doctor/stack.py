"""The CPU stack's checks: what this machine offers (versions, faiss, the code sandbox, the patches, OpenRLHF's
internals), and short real DPO and GRPO runs through OpenRLHF. ``cli.doctor`` prints them."""

from __future__ import annotations

import importlib.util
import time
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

INSTALL_HINT = (
    "run `make install` in a clone of the repository (CPU or GPU), or add it to an existing OpenRLHF 0.11 "
    "environment with `pip install openrlhf-weakness[cpu]` (or `[gpu]`: faiss on GPU); see docs/install.md"
)


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def faiss_flavour() -> str:
    names = {d.metadata["Name"].lower() for d in distributions() if d.metadata["Name"]}
    gpu = sorted(n for n in names if n.startswith("faiss-gpu"))
    if gpu:
        return f"{gpu[0]} {_version(gpu[0])}"
    if "faiss-cpu" in names:
        return f"faiss-cpu {_version('faiss-cpu')}"
    return "missing"


def report() -> tuple[list[tuple[str, str]], list[str]]:
    """(label, value) rows describing the machine, and the problems found, each with how to fix it."""
    rows, problems = [], []
    import torch

    cuda = torch.cuda.is_available()
    rows.append(("CUDA", f"yes, {torch.cuda.device_count()} GPU(s)" if cuda else "no (CPU path)"))
    rows.append(("torch", torch.__version__))
    for dist in ("openrlhf", "deepspeed", "transformers"):
        found = _version(dist)
        rows.append((dist, found or "missing"))
        if found is None:
            problems.append(f"{dist} is missing: {INSTALL_HINT}")
    no_vllm = "absent (GPU only; on CPU, GRPO rollouts use the vLLM stand-in)"
    rows.append(("vLLM", _version("vllm") if importlib.util.find_spec("vllm") else no_vllm))
    rows.append(("Ray", _version("ray") if importlib.util.find_spec("ray") else "absent (GRPO needs it)"))
    flash = _version("flash-attn")
    rows.append(("flash-attn", flash or "absent (stubbed on CPU)"))
    faiss = faiss_flavour()
    rows.append(("faiss", faiss))
    if faiss == "missing":
        problems.append(f"faiss is missing (retrieval needs it): {INSTALL_HINT}")
    from openrlhf_weakness.assess.sandbox_tool import bwrap_status

    works, detail = bwrap_status()
    # not a blocking problem: only the code assessor needs it, and it refuses to run untrusted code without it
    rows.append(("code sandbox", detail if works else f"unavailable, the code assessor will refuse to run: {detail}"))
    if not problems:
        from openrlhf_weakness import patches

        try:
            active = patches.apply()
        except patches.UnsupportedOpenRLHFVersion as err:
            problems.append(str(err))
            active = []
        rows.append(("CPU patches", ", ".join(active) if active else "none active"))
        from openrlhf_weakness.compat import SURFACE, installed_openrlhf_root, surface_problems

        broken = surface_problems(installed_openrlhf_root())
        rows.append(("OpenRLHF API", f"{len(SURFACE) - len(broken)}/{len(SURFACE)} internals used here as expected"))
        problems += [f"OpenRLHF internal changed: {p}" for p in broken]
    return rows, problems


def short_training_flags(model: str, data: str, max_len: int, lr: str, attn: str) -> list[str]:
    """The flags of the doctor's short DPO runs (one epoch of 8-pair steps on toy pairs, ZeRO-2)."""
    flags = {
        "--model.model_name_or_path": model,
        "--data.dataset": data,
        "--data.prompt_key": "prompt",
        "--train.micro_batch_size": 4,
        "--train.batch_size": 8,
        "--train.max_epochs": 1,
        "--data.max_len": max_len,
        "--ds.zero_stage": 2,
        "--ds.attn_implementation": attn,
        "--adam.lr": lr,
    }
    return [token for name, value in flags.items() for token in (name, str(value))]


def run_short_dpo(work_dir: Path) -> dict:
    """Train a tiny Llama with OpenRLHF's own train_dpo for one epoch, then reload and generate from it."""
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.launch import run_training
    from openrlhf_weakness.testing.tiny_model import build_tiny_model
    from openrlhf_weakness.testing.toy_data import toy_rows

    model = build_tiny_model(work_dir / "tiny-llama")
    data = str(work_dir / "pairs.jsonl")
    write_jsonl(data, toy_rows(32))
    out = work_dir / "dpo-out"
    args = short_training_flags(str(model), data, max_len=64, lr="1e-3", attn="eager") + [
        "--ckpt.output_dir",
        str(out),
    ]
    start = time.time()
    run_training("openrlhf.cli.train_dpo", args, work_dir / "train_dpo.log")
    seconds = time.time() - start

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    gen = reloaded.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    return {
        "seconds": seconds,
        "checkpoint": str(out),
        "log": str(work_dir / "train_dpo.log"),
        "new_tokens": gen.shape[1] - ids["input_ids"].shape[1],
    }


def run_short_grpo(work_dir: Path) -> dict:
    """Two GRPO steps of OpenRLHF's own train_ppo_ray on a tiny Llama with this project's reward hook (math) and ledger;
    rollouts on the vLLM stand-in where vLLM or a GPU is missing."""
    from openrlhf_weakness.hooks import reward_hook
    from openrlhf_weakness.testing.grpo_run import run_train_grpo, tiny_grpo_argv, write_addition_prompts
    from openrlhf_weakness.testing.tiny_model import build_tiny_model

    model = build_tiny_model(work_dir / "tiny-llama")
    prompts = write_addition_prompts(work_dir / "grpo_prompts.jsonl", 16)
    ledger = work_dir / "grpo_ledger.jsonl"
    argv = tiny_grpo_argv(
        str(model), str(prompts), str(work_dir / "grpo-out"), str(Path(reward_hook.__file__).resolve()), steps=2
    )
    env = {"ORW_REWARD_ASSESSOR": "math", "ORW_REWARD_LEDGER": str(ledger), "ORW_REWARD_NUM_WORKERS": "1"}
    run = run_train_grpo(argv, env=env)
    (work_dir / "train_grpo.log").write_text(run.output)
    if run.returncode != 0:
        tail = run.output.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"train_grpo exited {run.returncode}: {tail[0][:300]} (log {work_dir / 'train_grpo.log'})")
    failures = sum(1 for _ in open(ledger)) if ledger.exists() else 0
    step_seconds = [s.get("timing/step_total", 0.0) for s in run.steps.values()]
    return {
        "seconds": run.seconds,
        "steps": len(run.steps),
        "step_seconds": step_seconds,
        "ledger_rows": failures,
        "standin": "vLLM STAND-IN" in run.output,
        "log": str(work_dir / "train_grpo.log"),
    }
