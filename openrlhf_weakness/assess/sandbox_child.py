"""Runs inside the sandbox: set resource limits, drop root, install an audit hook, then run the candidate's program.

Usage (by :mod:`openrlhf_weakness.assess.code_sandbox` only): ``python -I -S sandbox_child.py MEMORY_MB CPU_SECONDS
OUT_FD`` with a JSON object on standard input. Two modes:

- ``calls`` (the tests were read as input/output pairs by the scorer): run the program, call each named function on
  its arguments and write one line per call to ``OUT_FD``, ``["ok", value]`` in :mod:`plain_data`'s encoding or
  ``["error", why]``. No expected value ever reaches this process; the scorer compares. Whatever the program does to
  this harness, all it can change is which plain values come out, which it could return anyway.
- ``tests`` (weakly verified; only when the tests are not of that form): run the program then its tests, and write a
  one-time token to ``OUT_FD`` once the tests return. The program shares this interpreter with the token, so a
  determined program can forge it: the scorer marks these rewards as weakly verified.

Equality in the tests of the ``tests`` mode goes through a strict comparison (``eq_name``): a value of a plain type
only equals another plain value, so an object whose ``__eq__`` always says True fails. The restricting audit hook
refuses new processes, sockets, native-library loading, writes outside the working directory, tracing and heap walks:
defence in depth under the operating system's sandbox, and the only guard where that sandbox was switched off.
"""

import ast
import json
import os
import resource
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plain_data  # noqa: E402  (beside this file, imported by path: the package is not inside the sandbox)

NOBODY = 65534

BLOCKED = (
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.exec",
    "os.system",
    "os.popen",
    "os.kill",
    "os.killpg",
    "subprocess.Popen",
    "pty.spawn",
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.cdata",
    "os.setuid",
    "os.chroot",
    "resource.setrlimit",
    "sys.addaudithook",
    "os.putenv",
    "os.unsetenv",
    "winreg",
    "urllib.Request",
    "webbrowser.open",
)
INTROSPECTION = ("sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents")
DONE_EVENT = "orw.sandbox.tests_returned"
PATH_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.rename": 2,
    "os.replace": 2,
    "shutil.rmtree": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.mkdir": 1,
    "os.symlink": 2,
    "os.link": 2,
    "os.truncate": 1,
    "os.utime": 1,
    "shutil.copyfile": 2,
    "shutil.move": 2,
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PLAIN_SCALARS = (int, float, complex, str, bytes, bool, type(None))
PLAIN_CONTAINERS = (list, tuple, set, frozenset, dict)


def make_strict_eq(_type=type, _all=all):
    """``==`` that refuses a plain built-in value compared with anything that is not plain data all the way down."""

    def plain(value, depth=0) -> bool:
        kind = _type(value)
        if kind in PLAIN_SCALARS:
            return True
        if depth > 50 or kind not in PLAIN_CONTAINERS:
            return False
        if kind is dict:
            return _all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in value.items())
        return _all(plain(v, depth + 1) for v in value)

    def strict_eq(left, right) -> bool:
        left_plain, right_plain = plain(left), plain(right)
        if left_plain != right_plain:
            return False
        return bool(left == right) if left_plain else left == right

    return strict_eq


class StrictEquality(ast.NodeTransformer):
    """``a == b`` -> ``eq(a, b)`` and ``a != b`` -> ``not eq(a, b)`` for single comparisons in the tests."""

    def __init__(self, eq_name: str):
        self.eq_name = eq_name

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return node
        call = ast.Call(ast.Name(self.eq_name, ast.Load()), [node.left, node.comparators[0]], [])
        new = call if isinstance(node.ops[0], ast.Eq) else ast.UnaryOp(ast.Not(), call)
        return ast.copy_location(new, node)


def install_proof(token: bytes, proof_fd: int, harness_code) -> None:
    """An audit hook that writes ``token`` once the harness (and only the harness) raises DONE_EVENT. It never raises,
    so no traceback the program can catch holds its frame."""
    write, caller = os.write, sys._getframe

    def proof(event: str, args: tuple) -> None:
        if event == DONE_EVENT and caller(1).f_code is harness_code:
            try:
                write(proof_fd, token)
            except OSError:  # the program closed the descriptor: no proof, so a failure
                pass

    sys.addaudithook(proof)


def set_limits(memory_mb: int, cpu_seconds: int, processes: int) -> None:
    """Memory, CPU, file size and core limits, then root dropped to nobody so the process limit holds (the kernel
    does not apply RLIMIT_NPROC to root). Inside a user namespace, where root is not real root, the drop is skipped."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.getuid() == 0 and os.environ.get("ORW_SANDBOX_DROP") == "1":
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def restricting_hook(root: str):
    """The audit hook that refuses processes, sockets, native loading and writes outside ``root``."""

    def inside(path) -> bool:
        if isinstance(path, int):  # a file descriptor already opened
            return True
        real = os.path.realpath(os.path.join(root, os.fsdecode(path)))
        return real == root or real.startswith(root + os.sep)

    def refuse(event: str, detail: str = "") -> None:
        raise PermissionError(f"sandbox: {event} is not allowed{detail}")

    def hook(event: str, args: tuple) -> None:
        if event.startswith(BLOCKED):
            refuse(event)
        if event.startswith(INTROSPECTION):
            refuse(event)
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS
            if path is not None and writing and not inside(path):
                refuse("writing", f" outside the sandbox: {path}")
        elif event in PATH_EVENTS:
            for path in args[: PATH_EVENTS[event]]:
                if path is not None and not isinstance(path, int) and not inside(path):
                    refuse(event, f" outside the sandbox: {path}")

    return hook


def report_error(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    where = [f"{f.filename} line {f.lineno}" for f in frames if f.filename in ("program.py", "tests.py")]
    return f"{type(err).__name__} ({where[-1] if where else 'sandbox'}): {err}"[:2000]


def write_all(fd: int, data: bytes, _write=os.write) -> None:
    view = memoryview(data)
    while view:
        view = view[_write(fd, view) :]


def run_calls(payload: dict, out_fd: int) -> None:
    """Run the program, then each call; one plain-data line per call on ``out_fd``; stop at the first error."""
    dumps, exit_now, write = plain_data.dumps, os._exit, write_all
    program = compile(payload["program"], "program.py", "exec")
    calls = payload["calls"]
    sys.addaudithook(restricting_hook(os.path.realpath(os.getcwd())))
    namespace = {"__name__": "__main__"}
    try:
        exec(program, namespace)
    except BaseException as err:
        write(out_fd, (json.dumps(["error", report_error(err)]) + "\n").encode())
        exit_now(1)
    for name, args, kwargs in calls:
        try:
            if name not in namespace or not callable(namespace[name]):
                raise NameError(f"the program defines no function {name!r}")
            value = namespace[name](*plain_data.decode(args), **plain_data.decode(kwargs))
            line = '["ok",' + dumps(value) + "]\n"
        except BaseException as err:  # SystemExit too: a call that ends the process is a failed call
            write(out_fd, (json.dumps(["error", report_error(err)]) + "\n").encode())
            exit_now(1)
        write(out_fd, line.encode())
    sys.stdout.flush()
    exit_now(0)


def run_tests(payload: dict, proof_fd: int) -> None:
    """The weakly verified mode: the program, then its tests, then the token (only from this harness's frame)."""
    token = payload["token"].encode()
    program = compile(payload["program"], "program.py", "exec")
    tests_tree = StrictEquality(payload["eq_name"]).visit(ast.parse(payload["tests"], "tests.py"))
    tests = compile(ast.fix_missing_locations(tests_tree), "tests.py", "exec")
    strict_eq, exit_now, eq_name = make_strict_eq(), os._exit, payload["eq_name"]
    install_proof(token, proof_fd, run_tests.__code__)
    del payload, token
    sys.addaudithook(restricting_hook(os.path.realpath(os.getcwd())))
    namespace = {"__name__": "__main__"}
    try:
        exec(program, namespace)
        namespace[eq_name] = strict_eq
        exec(tests, namespace)
    except SystemExit as stop:
        sys.stderr.write(f"sandbox: the program exited (SystemExit({stop.code!r})) before its tests finished\n")
        sys.stderr.flush()
        exit_now(3)
    except BaseException as err:
        sys.stderr.write(f"{report_error(err)}\n")
        sys.stderr.flush()
        exit_now(1)
    sys.stdout.flush()
    sys.audit(DONE_EVENT)
    exit_now(0)


def main() -> None:
    memory_mb, cpu_seconds, out_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    set_limits(memory_mb, cpu_seconds, int(payload.get("processes", 256)))
    if payload["mode"] == "calls":
        run_calls(payload, out_fd)
    else:
        run_tests(payload, out_fd)


if __name__ == "__main__":
    main()
