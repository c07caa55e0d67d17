"""Importing the package and starting its CLIs' --help pulls in no heavy engine."""

from __future__ import annotations

import subprocess
import sys

from conftest import run_python

HEAVY = ("deepspeed", "vllm", "ray", "faiss", "torch", "transformers")


def test_import_package_imports_no_heavy_module():
    proc = run_python("""
        import sys
        import openrlhf_weakness, openrlhf_weakness.patches, openrlhf_weakness.launch
        import openrlhf_weakness.cli.doctor, openrlhf_weakness.cli.run_openrlhf
        print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in %r))
        """ % (HEAVY,))
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_doctor_help_is_fast_and_light():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "openrlhf_weakness.cli.doctor", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert "--skip_dpo" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY)


def test_no_library_module_imports_a_cli_module():
    """Library code calls library functions; only CLIs (and the launcher's subprocess commands) name cli modules."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "openrlhf_weakness"
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "openrlhf_weakness.cli" or n.startswith("openrlhf_weakness.cli.") for n in names):
                offenders.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    assert not offenders, offenders
