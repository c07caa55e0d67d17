"""The GPU doctor's checks (the CPU stack's are beside them in :mod:`.stack`): each proves one GPU component with a
short real run and a timing, or says why it skipped.

Every check takes the device, so the same code can be rehearsed on a CPU host (``--gpu.device cpu``) with a tiny model.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from openrlhf_weakness.config import flag
from openrlhf_weakness.errors import SettingsError

CHECKS = ("training", "hf_generation", "embedder", "faiss_gpu", "vllm", "ray")


@dataclass
class GPUDoctorConfig:
    """The GPU doctor's checks (--gpu_enable)."""

    device: str = flag(
        "cuda",
        "device the checks run on (cpu rehearses the GPU code path with a small model)",
        choices=["cuda", "cpu"],
    )
    model: str = flag("", "HF model folder for training and generation (default: SmolLM2-135M-Instruct, offline)")
    checks: str = flag(",".join(CHECKS), f"comma-separated checks to run, of: {', '.join(CHECKS)}")
    rows: int = flag(2000, "texts for the embedder check; vectors for the faiss check are 100x as many")
    steps: int = flag(8, "optimizer steps for each of the two training runs (8 pairs a step)")


@dataclass
class CheckResult:
    name: str
    status: str  # ok, skipped, failed
    seconds: float
    detail: str


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def device_label(device: str) -> str:
    """The device the GPU checks run on, by name where CUDA has one; a broken CUDA install is itself a finding."""
    try:
        import torch

        return torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else device
    except Exception as err:
        return f"{device} ({type(err).__name__}: {err})"


def skip_reason(name: str, device: str) -> str | None:
    """Why ``name`` cannot run here, or None when it can."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    if name == "faiss_gpu":
        import faiss

        if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
            return "faiss sees no GPU (faiss-cpu is installed, or faiss-gpu found no device)"
    if name == "vllm" and not _importable("vllm"):
        return "vllm is not installed (GPU only: pip install openrlhf-weakness[vllm], OpenRLHF's own vLLM pin)"
    if name == "vllm" and device != "cuda":
        return "vLLM needs a CUDA device"
    if name == "ray" and not _importable("ray"):
        return "ray is not installed"
    return None


def check_training(model: str, work_dir: Path, device: str, steps: int) -> str:
    """A few cli.train_apt steps and the stock openrlhf.cli.train_dpo on the same pairs (ZeRO-2, bf16): wall times."""
    from openrlhf_weakness.doctor.stack import short_training_flags
    from openrlhf_weakness.io import write_jsonl
    from openrlhf_weakness.launch import run_training
    from openrlhf_weakness.patches import default_attn_implementation
    from openrlhf_weakness.testing.toy_data import toy_rows

    work_dir.mkdir(parents=True, exist_ok=True)
    data = work_dir / "pairs.jsonl"
    write_jsonl(data, [dict(row, weight=1.0) for row in toy_rows(8 * steps)])  # full pairs: the stock DPO needs them
    attn = default_attn_implementation(cuda=device == "cuda")
    common = short_training_flags(model, str(data), max_len=128, lr="1e-6", attn=attn) + ["--ds.param_dtype", "bf16"]
    runs = {
        "openrlhf_weakness.cli.train_apt": ["--apt.sft_coef", "0.5", "--apt.weight_key", "weight"],
        "openrlhf.cli.train_dpo": ["--model.nll_loss_coef", "0.5"],
    }
    seconds = {}
    for module, extra in runs.items():
        out = work_dir / module.rsplit(".", 1)[-1]
        start = time.perf_counter()
        run_training(module, [*common, *extra, "--ckpt.output_dir", str(out)], work_dir / f"{out.name}.log")
        seconds[module] = time.perf_counter() - start
    metrics = (work_dir / "train_apt" / "apt_metrics.jsonl").read_text().splitlines()
    if len(metrics) != steps:
        raise RuntimeError(f"cli.train_apt logged {len(metrics)} steps, expected {steps}")
    last = json.loads(metrics[-1])
    if not np.isfinite(last["margin"]):
        raise RuntimeError(f"cli.train_apt's last margin is {last['margin']}")
    apt, dpo = seconds["openrlhf_weakness.cli.train_apt"], seconds["openrlhf.cli.train_dpo"]
    return (
        f"cli.train_apt {apt:.1f} s, openrlhf.cli.train_dpo {dpo:.1f} s for {steps} steps each, model load included "
        f"(ratio {apt / dpo:.2f}); ZeRO-2, bf16, {attn}; last APT margin {last['margin']:.3f}"
    )


def check_hf_generation(model: str, device: str) -> str:
    """Greedy generation of 8 answers of up to 64 tokens through the project's HF backend: tokens per second."""
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.hf import HFBackend

    backend = HFBackend(model, batch_size=8, dtype="bfloat16" if device == "cuda" else "float32", device=device)
    prompts = [f"What is {a} plus {a + 3}? Answer briefly." for a in range(8)]
    params = SamplingParams(max_new_tokens=64, temperature=0.0)
    backend.generate_batch(prompts[:1], params)  # warm-up
    start = time.perf_counter()
    answers = backend.generate_batch(prompts, params)
    seconds = time.perf_counter() - start
    tokens = sum(len(backend.tokenizer(a[0], add_special_tokens=False)["input_ids"]) for a in answers)
    if tokens == 0:
        raise RuntimeError("the model generated no tokens")
    return f"{tokens} new tokens for 8 prompts in {seconds:.2f} s ({tokens / seconds:.0f} tokens/s, batch 8)"


def check_embedder(device: str, rows: int) -> str:
    """MiniLM on ``device`` against MiniLM on CPU over the same texts: speed-up and the largest cosine disagreement."""
    from openrlhf_weakness.retrieve.embed import Embedder

    texts = [f"Question {i}: how many apples are left when {i} of {3 * i + 7} are eaten?" for i in range(rows)]
    timings, vectors = {}, {}
    for where in dict.fromkeys([device, "cpu"]):
        embedder = Embedder(device=where, batch_size=256)
        embedder.encode(texts[:8])  # warm-up
        start = time.perf_counter()
        vectors[where] = embedder.encode(texts)
        timings[where] = time.perf_counter() - start
    if device == "cpu":
        return f"{rows} texts: {rows / timings['cpu']:.0f}/s on cpu"
    worst = float(np.max(np.abs(np.sum(vectors[device] * vectors["cpu"], axis=1) - 1.0)))
    if worst > 0.02:
        raise RuntimeError(f"embeddings on {device} differ from CPU (cosine off by {worst:.3f})")
    return (
        f"{rows} texts: {device} {rows / timings[device]:.0f}/s, cpu {rows / timings['cpu']:.0f}/s "
        f"(speed-up {timings['cpu'] / timings[device]:.1f}x); cosine to CPU within {worst:.1e}"
    )


def compare_indexes(n: int, kind: str, use_gpu: bool, queries: int = 500, k: int = 10, dim: int = 384) -> dict:
    """Search random unit vectors with a candidate index against exact CPU search: recall@k and speed-up."""
    from openrlhf_weakness.retrieve.index import build_index, search

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    q = vectors[rng.choice(n, queries, replace=False)] + 0.1 * rng.standard_normal((queries, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    timings, ids = {}, {}
    for name, index in (
        ("exact", build_index(vectors, "flat", use_gpu=False)),
        ("candidate", build_index(vectors, kind, use_gpu=use_gpu)),
    ):
        search(index, q[:8], k)  # warm-up (GPU kernels, IVF probes)
        start = time.perf_counter()
        ids[name] = search(index, q, k)[1]
        timings[name] = time.perf_counter() - start
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ids["exact"], ids["candidate"])])
    return {"recall": float(recall), "speedup": timings["exact"] / timings["candidate"], "n": n, "k": k}


def check_faiss_gpu(rows: int) -> str:
    result = compare_indexes(100 * rows, "flat", use_gpu=True)
    if result["recall"] < 0.99:
        raise RuntimeError(f"exact search on the GPU disagrees with the CPU: recall@10 {result['recall']:.3f}")
    return (
        f"flat index over {result['n']:,} vectors: recall@{result['k']} {result['recall']:.3f} against CPU, "
        f"search speed-up {result['speedup']:.1f}x"
    )


def check_vllm(model: str) -> str:
    """The project's vLLM engine (the one the Ray backend places on each GPU) generates 8 answers."""
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.vllm_ray import vllm_engine

    engine = vllm_engine(model, gpu_memory_utilization=0.3)
    prompts = [f"What is {a} plus {a + 3}?" for a in range(8)]
    start = time.perf_counter()
    answers = engine.generate(prompts, SamplingParams(max_new_tokens=64).as_dict())
    seconds = time.perf_counter() - start
    if not any(a[0].strip() for a in answers):
        raise RuntimeError("vLLM returned only empty answers")
    return f"8 answers in {seconds:.2f} s"


def check_ray(device: str) -> str:
    """A local Ray cluster schedules a task on a GPU (or a CPU in rehearsal) and returns what the task saw."""
    import ray

    gpus = 1 if device == "cuda" else 0
    ray.init(num_cpus=1, num_gpus=gpus, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:

        @ray.remote(num_gpus=gpus)
        def probe() -> str:
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"

        seen = ray.get(probe.remote(), timeout=120)
    finally:
        ray.shutdown()
    if device == "cuda" and seen == "cpu":
        raise RuntimeError("the Ray task saw no GPU")
    return f"a task with num_gpus={gpus} ran on: {seen}"


def run_check(name: str, fn: Callable[[], str], device: str) -> CheckResult:
    """Run one check; a skip or a failure becomes a result line, never a traceback that stops the others."""
    reason = skip_reason(name, device)
    if reason:
        return CheckResult(name, "skipped", 0.0, reason)
    start = time.perf_counter()
    try:
        detail = fn()
    except Exception as err:  # report and go on: the doctor's job is to list every broken component
        message = str(err).strip().splitlines()
        return CheckResult(
            name, "failed", time.perf_counter() - start, f"{type(err).__name__}: {' / '.join(message[-3:])}"
        )
    return CheckResult(name, "ok", time.perf_counter() - start, detail)


def selected_checks(cfg: GPUDoctorConfig) -> list[str]:
    wanted = [c.strip() for c in cfg.checks.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown:
        raise SettingsError(f"--gpu.checks: unknown {', '.join(unknown)} (known: {', '.join(CHECKS)})")
    return wanted


def run_gpu_checks(
    cfg: GPUDoctorConfig,
    work_dir: Path,
    model_for: Callable[[], str],
    on_start: Callable[[str], None] = lambda name: None,
    on_result: Callable[[CheckResult], None] = lambda result: None,
) -> list[CheckResult]:
    """Every selected check in order; ``model_for()`` gives the model folder, built only when a check needs it;
    ``on_start``/``on_result`` let a command show progress on checks that take minutes."""
    wanted = selected_checks(cfg)
    model = cfg.model or None

    def needs_model(fn: Callable[[str], str]) -> Callable[[], str]:
        def call() -> str:
            nonlocal model
            model = model or model_for()
            return fn(model)

        return call

    fns = {
        "training": needs_model(lambda m: check_training(m, work_dir / "training", cfg.device, cfg.steps)),
        "hf_generation": needs_model(lambda m: check_hf_generation(m, cfg.device)),
        "embedder": lambda: check_embedder(cfg.device, cfg.rows),
        "faiss_gpu": lambda: check_faiss_gpu(cfg.rows),
        "vllm": needs_model(check_vllm),
        "ray": lambda: check_ray(cfg.device),
    }
    results = []
    for name in wanted:
        on_start(name)
        results.append(run_check(name, fns[name], cfg.device))
        on_result(results[-1])
    return results
