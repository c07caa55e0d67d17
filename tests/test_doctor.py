"""The doctor reports the machine and finishes a real DPO run (this is `make demo` until the APT demo lands)."""

from __future__ import annotations

import subprocess
import sys


def test_doctor_reports_machine_and_finishes_a_dpo_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "openrlhf_weakness.cli.doctor", "--work_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "CUDA         no (CPU path)" in out
    assert "openrlhf     0.11.2" in out
    assert "CPU patches  flash_attn_stub, strategy_cpu" in out
    assert "faiss        faiss-cpu" in out
    assert "The stack works." in out
    assert (tmp_path / "dpo-out" / "model.safetensors").exists()
