"""The existing-environment install path: this project's wheel, pip-installed into an environment that already holds
the locked stack, changes no installed package, and its commands start from there.

The stand-in for a user's OpenRLHF deployment is built in seconds from the environment running the tests (the one
`make install` built from the lock): a fresh venv whose path holds a view of that environment's site-packages
(symlinks, this project's own editable install left out), plus metadata-only records for what OpenRLHF's own
requirements bring and the CPU lock leaves out on purpose (openrlhf is installed there with --no-deps: flash-attn
needs CUDA; bitsandbytes, wandb, ray[default]'s extras, ... are not needed on CPU). With the records, pip sees a
complete OpenRLHF install, as on a GPU deployment, and the only question left is what this project's wheel asks for.
pip runs with --no-index: anything the wheel needs that the locked stack lacks fails the resolve.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWN = "openrlhf-weakness"
EXTRAS = {"cpu": "cpu,demo", "gpu": "gpu,vllm,demo"}  # what each locked stack holds, by `make install` flavour


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[_canon(name.split("[")[0])] = version.split(";")[0].strip()
    return out


def _names(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {_canon(re.split(r"[\[<>=!~; ]", line)[0]) for line in lines if line}


def _pip(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def _missing_requirements(root: str) -> dict[str, str]:
    """name -> a version satisfying every requirement on it, for each package in ``root``'s requirement closure
    (extras and markers followed) that is not installed in this environment."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    wanted: dict[str, list[Requirement]] = {}
    seen, todo = set(), [Requirement(root)]
    while todo:
        req = todo.pop()
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            wanted.setdefault(_canon(req.name), []).append(req)
            continue
        key = (_canon(req.name), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        extras = set(req.extras) | {""}
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    out = {}
    for name, reqs in wanted.items():
        specs = [s for r in reqs for s in r.specifier]
        exact = [s.version for s in specs if s.operator == "=="]
        lower = [s.version for s in specs if s.operator == ">="]
        version = (
            exact[0] if exact else max(lower, key=lambda v: tuple(map(int, re.findall(r"\d+", v)))) if lower else "0"
        )
        assert all(r.specifier.contains(version, prereleases=True) for r in reqs), (name, reqs)
        out[name] = version
    return out


def _env() -> dict:
    """This environment without PYTHONPATH, which would put a checkout ahead of the installed wheel."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}


def _flavour() -> str | None:
    stamps = list(Path(sys.prefix).glob(".installed-*"))
    return stamps[0].name.split("-")[1] if stamps else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources (an in-tree build leaves an egg-info that would shadow the checks below)."""
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "openrlhf_weakness", src / "openrlhf_weakness", ignore=shutil.ignore_patterns("__pycache__")
    )
    proc = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("openrlhf_weakness-*.whl")
    return path


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> dict:
    """A fresh venv over a view of this environment's packages, plus records of OpenRLHF's requirements the CPU lock
    leaves out."""
    if _flavour() is None:
        pytest.skip("not running from a `make install` environment (no .installed-* stamp): no locked stack to copy")
    base = tmp_path_factory.mktemp("stand_in")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    locked = Path(sysconfig.get_paths()["purelib"])
    view = base / "locked-stack"
    view.mkdir()
    own = re.compile(r"^(openrlhf_weakness[-_.].*|__editable__.*openrlhf_weakness.*|.*\.pth)$")
    for entry in locked.iterdir():
        if not own.match(entry.name):
            (view / entry.name).symlink_to(entry)
    (site / "locked-stack.pth").write_text(f"{view}\n")
    records = _missing_requirements("openrlhf")
    for name, version in records.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("stand-in record (tests/test_install_path.py)\n")
        (info / "RECORD").write_text("")
    return {"python": python, "bin": venv / "bin", "site": site, "records": records, "locked": locked}


def test_the_stand_in_holds_the_locked_stack(stand_in):
    """Every pin of the lock `make install` used is what the stand-in sees: the checks below run against that stack."""
    lock = _pins(ROOT / "requirements" / f"{_flavour()}.lock")
    code = (
        "import json; from importlib.metadata import distributions as d; "
        "print(json.dumps({x.metadata['Name']: x.version for x in d()}))"
    )
    proc = subprocess.run(
        [str(stand_in["python"]), "-c", code], capture_output=True, text=True, check=True, cwd="/", env=_env()
    )
    seen = {_canon(k): v for k, v in json.loads(proc.stdout).items()}
    drift = {n: (v, seen.get(n)) for n, v in lock.items() if (seen.get(n) or "").split("+")[0] != v}
    assert not drift, f"lock pin -> installed: {drift}"
    assert OWN not in seen, "the project's own editable install must not be visible in the stand-in"
    if _flavour() == "cpu":  # openrlhf is installed there with --no-deps: its CUDA-only pin is one of the records
        assert stand_in["records"].get("flash-attn") == "2.8.3"


def test_pip_install_of_the_wheel_changes_no_installed_package(wheel, stand_in, tmp_path):
    report = tmp_path / "report.json"
    proc = _pip(
        "--python",
        str(stand_in["python"]),
        "install",
        "--dry-run",
        "--no-index",
        "--report",
        str(report),
        "-q",
        f"{wheel}[{EXTRAS[_flavour()]}]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = {
        _canon(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]
    }
    assert planned == {OWN: "0.1.0"}, f"pip would also install or change: {sorted(set(planned) - {OWN})}"


def test_the_installed_wheel_runs_from_the_stand_in(wheel, stand_in):
    """A real install (still offline, nothing but the wheel to add) puts the commands on the venv's PATH."""
    proc = _pip("--python", str(stand_in["python"]), "install", "--no-index", "-q", f"{wheel}[{EXTRAS[_flavour()]}]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    where = subprocess.run(
        [str(stand_in["python"]), "-c", "import openrlhf_weakness as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=stand_in["bin"],
        env=_env(),
    ).stdout
    assert where.startswith(str(stand_in["site"])), where
    env = _env()
    doctor = subprocess.run([str(stand_in["bin"] / "orw-doctor"), "--help"], capture_output=True, text=True, env=env)
    assert doctor.returncode == 0 and "--skip_dpo" in doctor.stdout, doctor.stderr
    hook = subprocess.run([str(stand_in["bin"] / "orw-reward-hook-path")], capture_output=True, text=True, env=env)
    assert Path(hook.stdout.strip()).is_file() and hook.stdout.startswith(str(stand_in["site"])), hook.stdout


def _scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_user_command_has_a_console_script():
    """Each cli module with a main() (the `python -m` form stays) has one, and each script names such a main."""
    modules = {p.stem for p in (ROOT / "openrlhf_weakness" / "cli").glob("*.py") if p.stem != "__init__"}
    targets = {}
    for script, target in _scripts().items():
        module, func = target.split(":")
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body), target
        targets[module.rsplit(".", 1)[1]] = script
    assert set(targets) == modules
    assert all(s == "orw-" + m.replace("_", "-") for m, s in targets.items()), targets


def test_the_cpu_install_list_covers_every_requirement():
    """scripts/install.sh installs requirements/cpu.in and then the project with --no-deps: that list must hold every
    dependency and extra the CPU host uses, each pinned by the lock."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {_canon(re.split(r"[\[<>=!~; ]", r)[0]) for r in project["dependencies"] + extras["cpu"] + extras["demo"]}
    wanted |= {_canon(re.split(r"[\[<>=!~; ]", r)[0]) for r in extras["dev"]}
    listed, lock = _names(ROOT / "requirements" / "cpu.in"), _pins(ROOT / "requirements" / "cpu.lock")
    assert wanted - {"openrlhf"} <= listed, sorted(wanted - {"openrlhf"} - listed)
    assert listed <= set(lock), sorted(listed - set(lock))
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert "-c requirements/cpu.lock -r requirements/cpu.in" in script
    assert "--no-deps -e ." in script and "--no-deps -c requirements/cpu.lock openrlhf" in script


def test_no_exact_pin_on_the_stack_openrlhf_owns():
    """Compatible ranges for users' environments: torch, transformers, deepspeed, vllm, ray come from OpenRLHF."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for k, v in project["optional-dependencies"].items() if k != "dev" for r in v]
    names = {_canon(re.split(r"[\[<>=!~; ]", r)[0]) for r in reqs}
    assert not names & {"torch", "transformers", "deepspeed", "vllm", "ray", "flash-attn"}, names
    assert not [r for r in reqs if "==" in r], reqs
    from packaging.requirements import Requirement

    assert "openrlhf<0.12,>=0.11" in {str(Requirement(r)) for r in reqs}


@pytest.mark.slow
def test_every_command_starts_from_the_stand_in(wheel, stand_in, tmp_path):
    """Every console script's --help, then the doctor (machine report and a short DPO), from the installed wheel."""
    proc = _pip("--python", str(stand_in["python"]), "install", "--no-index", "-q", f"{wheel}[{EXTRAS[_flavour()]}]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = _env()
    for script in _scripts():
        args = [] if script == "orw-reward-hook-path" else ["--help"]
        run = subprocess.run(
            [str(stand_in["bin"] / script), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )
        assert run.returncode == 0, f"{script}: {run.stderr[-2000:]}"
        assert run.stdout.strip(), script
    doctor = subprocess.run(
        [str(stand_in["bin"] / "orw-doctor"), "--work_dir", str(tmp_path / "doctor")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert doctor.returncode == 0, doctor.stdout[-2000:] + doctor.stderr[-2000:]
    assert re.search(r"OpenRLHF API +(\d+)/\1 internals used here as expected", doctor.stdout), doctor.stdout
    assert "The stack works." in doctor.stdout
