"""The doctor: the machine report, a real DPO run, and the GPU checks (skipped on a CPU host, rehearsed on CPU)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def _doctor(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.doctor", *args], capture_output=True, text=True, timeout=timeout
    )


def _result_lines(out: str) -> dict[str, list[str]]:
    """{check: [status, rest of the line]} from the doctor's GPU section."""
    section = out.split("GPU checks on", 1)[1].split("\n\n")[0].splitlines()[1:]
    return {line.split()[0]: line.split(None, 2)[1:] for line in section if line.startswith("  ")}


def test_gpu_doctor_on_a_cpu_host_skips_every_gpu_check_with_its_reason(tmp_path):
    proc = _doctor("--gpu_enable", "--skip_dpo", "--work_dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _result_lines(proc.stdout)
    assert set(lines) == {"training", "hf_generation", "embedder", "faiss_gpu", "vllm", "ray"}
    for status, reason in lines.values():
        assert status == "skipped" and "no CUDA device" in reason


@pytest.mark.slow  # 75 s; the skip-all and failing-check tests below stay in make test
def test_gpu_doctor_rehearsed_on_cpu_runs_each_check_for_real(tiny_model, tmp_path):
    """The machine report, the short DPO run, and --gpu.device cpu running the GPU code path with a tiny model:
    training through cli.train_apt and the stock train_dpo, HF generation, the embedder; faiss on GPU is absent
    here and says so."""
    proc = _doctor(
        "--gpu_enable",
        "--gpu.device",
        "cpu",
        "--gpu.model",
        str(tiny_model),
        "--gpu.rows",
        "32",
        "--gpu.steps",
        "2",
        "--gpu.checks",
        "training,hf_generation,embedder,faiss_gpu",
        "--skip_grpo",
        "--work_dir",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "CUDA         no (CPU path)" in out
    assert "openrlhf     0.11.2" in out
    assert "CPU patches  flash_attn_stub, strategy_cpu" in out
    assert "faiss        faiss-cpu" in out
    assert "The stack works." in out
    assert (tmp_path / "dpo-out" / "model.safetensors").exists()
    lines = _result_lines(proc.stdout)
    assert [s for s, _ in lines.values()] == ["ok", "ok", "ok", "skipped"], proc.stdout
    assert re.search(r"cli\.train_apt [\d.]+ s, openrlhf\.cli\.train_dpo [\d.]+ s for 2 steps each", proc.stdout)
    assert "ZeRO-2, bf16, eager" in proc.stdout
    assert len((tmp_path / "training" / "train_apt" / "apt_metrics.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "training" / "train_dpo" / "model.safetensors").exists()
    tokens = int(re.search(r"(\d+) new tokens for 8 prompts", proc.stdout).group(1))
    assert tokens > 0
    assert "32 texts:" in proc.stdout and "faiss sees no GPU" in proc.stdout


def test_gpu_doctor_reports_a_failing_check_and_exits_1(tmp_path):
    proc = _doctor(
        "--gpu_enable",
        "--gpu.device",
        "cpu",
        "--gpu.model",
        str(tmp_path / "no-model"),
        "--gpu.checks",
        "hf_generation,faiss_gpu",
        "--skip_dpo",
        "--work_dir",
        str(tmp_path),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _result_lines(proc.stdout)
    assert lines["hf_generation"][0] == "failed" and "no-model" in lines["hf_generation"][1]
    assert lines["faiss_gpu"][0] == "skipped"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_gpu_doctor_refuses_an_unknown_check_in_one_line(tmp_path):
    proc = _doctor("--gpu_enable", "--gpu.checks", "training,warp_drive", "--skip_dpo", "--work_dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "doctor: --gpu.checks: unknown warp_drive (known: training, hf_generation, embedder, faiss_gpu, vllm, ray)"
    )


def test_index_comparison_measures_recall_of_an_approximate_index_against_exact_search():
    from openrlhf_weakness.doctor.gpu import compare_indexes

    flat = compare_indexes(4000, "flat", use_gpu=False, queries=100, dim=32)
    assert flat["recall"] == 1.0
    ivf = compare_indexes(4000, "ivf", use_gpu=False, queries=100, dim=32)
    assert 0.3 < ivf["recall"] <= 1.0 and ivf["speedup"] > 0
