"""apt/ and stat/ sit side by side over the shared data core: neither imports the other, nor hooks/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "openrlhf_weakness"
FORBIDDEN = {"apt": ("stat", "hooks"), "stat": ("apt", "hooks")}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_apt_and_stat_import_neither_each_other_nor_hooks(package):
    found = {}
    for path in sorted((PACKAGE / package).glob("*.py")):
        bad = [m for m in imported_modules(path) for f in FORBIDDEN[package] if m.startswith(f"openrlhf_weakness.{f}")]
        if bad:
            found[path.name] = bad
    assert not found, found
