"""The docs stay true to the code: the flag reference is regenerated and compared, every marked shell block's flags
exist in the parsers of the commands it runs, links resolve, no page is orphaned, and the README stays short.

Marking a block (see CONTRIBUTING.md): put ``<!-- check: help -->`` on the line before a fenced ``bash`` block.
Each command in it is checked in-process (no subprocess, no model): the command's own parser must accept the block's
project flags (values of choice and number flags included), and a flag it passes on to OpenRLHF must be declared in
the installed OpenRLHF module's source.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import io
import re
import shlex
from contextlib import redirect_stderr
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_BYTES = 12_000
MARK = re.compile(r"<!-- check: help -->[ \t]*\n```(?:bash|sh)\n(.*?)\n```", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# commands whose flags after `--` belong to another command
AFTER_DASHES = {
    "openrlhf_weakness.cli.apt": "openrlhf_weakness.cli.train_apt",
    "openrlhf_weakness.cli.compare": "openrlhf_weakness.cli.train_apt",
}
# shell words a checked block may use besides this project's commands
OTHER_COMMANDS = {"pip", "cd", "export", "git", "nvidia-smi", "ray", "for", "do", "done", "patch", "ls", "cat"}


def _gen_flags():
    spec = importlib.util.spec_from_file_location("gen_flags", ROOT / "scripts" / "gen_flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN_FLAGS = _gen_flags()


def doc_files() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    pages += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    return [p for p in pages if p.exists()]


# ---------------------------------------------------------------- flag reference and size


def test_flag_reference_is_current():
    committed = GEN_FLAGS.OUT.read_text() if GEN_FLAGS.OUT.exists() else ""
    fresh = GEN_FLAGS.render()
    if committed != fresh:
        diff = difflib.unified_diff(committed.splitlines(), fresh.splitlines(), "committed", "from the parsers", n=0)
        pytest.fail("docs/flags.md is stale: run `make docs` and commit docs/flags.md\n" + "\n".join(list(diff)[:30]))


def test_flag_reference_lists_every_command_and_its_flags():
    text = GEN_FLAGS.render()
    for module, parser, _ in GEN_FLAGS.load_parsers():
        assert f"## {module.removeprefix('openrlhf_weakness.')}\n" in text
        for action in (a for a in parser._actions if a.help != argparse.SUPPRESS):  # renamed flags' old names
            for option in action.option_strings:
                assert option in {"-h", "--help"} or f"`{option}`" in text, option
    assert "| `--loop.ref_policy` | `previous` | `previous`, `initial` |" in text


def test_readme_is_at_most_12000_bytes():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/ (limit {README_MAX_BYTES})"


# ---------------------------------------------------------------- links


def test_relative_links_resolve():
    broken = []
    for page in doc_files():
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path, _, anchor = target.partition("#")
            path = page.parent / path
            if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _linked_from(pages: list[Path]) -> set[Path]:
    found = set()
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
                found.add((page.parent / target.split("#")[0]).resolve())
    return found


def test_every_docs_page_is_linked_from_the_readme_or_another_page():
    docs = sorted((ROOT / "docs").glob("*.md"))
    orphans = [
        p.name for p in docs if p.resolve() not in _linked_from([ROOT / "README.md"] + [d for d in docs if d != p])
    ]
    assert not orphans, f"docs pages nobody links to: {orphans}"


def test_every_results_page_is_in_the_results_index():
    results = ROOT / "benchmarks" / "results"
    index = _linked_from([results / "README.md"])
    missing = [p.name for p in sorted(results.glob("*.md")) if p.name != "README.md" and p.resolve() not in index]
    assert not missing, f"benchmarks/results/README.md does not list: {missing}"
    assert (results / "README.md").resolve() in _linked_from(
        [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    )


# ---------------------------------------------------------------- commands in marked blocks


def checked_blocks() -> list[tuple[str, str]]:
    """(where, block text) of every marked block, where = file:line."""
    blocks = []
    for page in doc_files():
        text = page.read_text()
        for match in MARK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return blocks


def commands_in(block: str) -> list[list[str]]:
    """Each command of a shell block as words: continuation lines joined, comments dropped, `$(cmd)` checked as a
    command of its own and read as a value, `[optional]` brackets removed, `&&` / `;` / `|` splitting commands."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        inner = re.findall(r"\$\(([^()]*)\)", line)
        words = [_unbracket(w) for w in shlex.split(re.sub(r"\$\([^()]*\)", "VALUE", line), comments=True)]
        current: list[str] = []
        for word in words + [";"]:
            if word in {"&&", ";", "|", "||"}:
                if current:
                    commands.append(current)
                current = []
            elif word:
                current.append(word)
        commands += [shlex.split(c, comments=True) for c in inner]
    return commands


def _unbracket(word: str) -> str:
    """`[--x.y` / `value]` of an optional part, without its brackets (`pkg[extra]` keeps them)."""
    word = word[1:] if word.startswith("[-") else word
    return word[:-1] if word.endswith("]") and "[" not in word else word


def _console_scripts() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    return dict(re.findall(r'^(orw-[\w-]+) = "([\w.]+):main"', text, re.M))


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


def openrlhf_flags(module: str) -> set[str]:
    """Flags declared in an OpenRLHF CLI module's source (read, not imported: train_ppo_ray imports vLLM)."""
    source = Path(importlib.util.find_spec(module).origin).read_text()
    flags = set(re.findall(r'add_argument\(\s*"(--[\w.]+)"', source))
    for template in re.findall(r'add_argument\(\s*f"(--\{prefix\}[\w.]+)"', source):
        flags |= {template.replace("{prefix}", p) for p in ("actor", "critic")}
    return flags


def _flags(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("--") and w != "--"]


def check_module(module: str, args: list[str]) -> list[str]:
    """Problems with running ``module args`` (empty: none)."""
    if module.startswith("openrlhf."):
        known = openrlhf_flags(module)
        return [f"{module} has no flag {f}" for f in _flags(args) if f not in known]
    commands = {m: f for m, f, _ in GEN_FLAGS.COMMANDS}
    if module == "openrlhf_weakness.cli.run_openrlhf":
        return check_module(args[0], args[1:]) if args else ["run_openrlhf needs an OpenRLHF module"]
    if module == "openrlhf_weakness.cli.reward_hook_path":
        return [f"reward_hook_path takes no flags, got {args}"] if args else []
    if module not in commands:
        return [f"{module} is not a command in scripts/gen_flags.py COMMANDS"]
    problems = []
    if "--" in args and module in AFTER_DASHES:
        split = args.index("--")
        problems += check_module(AFTER_DASHES[module], args[split + 1 :])
        args = args[:split]
    imported = importlib.import_module(module)
    parser = getattr(imported, commands[module])()
    parser.format_help()
    errors = io.StringIO()
    try:
        with redirect_stderr(errors):
            _, rest = parser.parse_known_args(args)
    except SystemExit:
        return problems + [f"{module}: {errors.getvalue().strip().splitlines()[-1]}"]
    wrapped = getattr(imported, "OPENRLHF_MODULE", None)
    known = openrlhf_flags(wrapped) if wrapped else set()
    return problems + [f"{module} has no flag {f}" for f in _flags(rest) if f not in known]


def check_command(words: list[str]) -> list[str]:
    words = list(words)
    while words and re.match(r"^\w+=", words[0]):  # VAR=value prefixes
        words.pop(0)
    if not words:
        return []
    for flag in ("-m", "--module"):
        if flag in words[:-1]:
            at = words.index(flag)
            return check_module(words[at + 1], words[at + 2 :])
    if words[0] in _console_scripts():
        return check_module(_console_scripts()[words[0]], words[1:])
    if words[0] == "make":
        return [f"no make target {t}" for t in words[1:] if "=" not in t and t not in _make_targets()]
    if words[0] in {"bash", "sh"}:
        return [] if (ROOT / words[1]).exists() else [f"no script {words[1]}"]
    if words[0] in OTHER_COMMANDS:
        return []
    return [f"unknown command {words[0]!r} in a checked block (see CONTRIBUTING.md)"]


BLOCKS = checked_blocks()


def test_the_docs_have_checked_blocks():
    where = {w.split(":")[0] for w, _ in BLOCKS}
    assert "README.md" in where and len(BLOCKS) >= 10, where


@pytest.mark.parametrize("where,block", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_checked_block_commands_exist(where, block):
    problems = [p for words in commands_in(block) for p in check_command(words)]
    assert not problems, f"{where}: " + "; ".join(problems)


def test_the_checker_catches_renamed_flags_and_bad_values():
    assess = "python -m openrlhf_weakness.cli.assess --data.dataset a.jsonl --data.output s.jsonl"
    assert check_command(shlex.split(assess + " --assess.assessor math")) == []
    assert check_command(shlex.split(assess + " --assess.scorer math")) == [
        "openrlhf_weakness.cli.assess has no flag --assess.scorer"
    ]
    bad_choice = check_command(["orw-assess", "--assess.assessor", "maths"])
    assert len(bad_choice) == 1 and "invalid choice: 'maths'" in bad_choice[0]
    missing = check_command(["orw-assess", "--assess.assessor", "math"])
    assert len(missing) == 1 and "required: --data.dataset, --data.output" in missing[0]
    apt = "python -m openrlhf_weakness.cli.apt --loop.model m --data.train t --data.dev d --data.pool p --"
    assert check_command(shlex.split(apt + " --adam.lr 1e-6 --apt.sft_coef 1")) == []
    assert check_command(shlex.split(apt + " --apt.sft_coeff 1")) == [
        "openrlhf_weakness.cli.train_apt has no flag --apt.sft_coeff"
    ]
    assert check_command(["make", "no-such-target"]) == ["no make target no-such-target"]
    assert commands_in(
        "A=1 python -m x --a 1 \\\n  --b [--c 2] # note\npip install 'p[gpu]'\nmake test && make docs"
    ) == [
        ["A=1", "python", "-m", "x", "--a", "1", "--b", "--c", "2"],
        ["pip", "install", "p[gpu]"],
        ["make", "test"],
        ["make", "docs"],
    ]
