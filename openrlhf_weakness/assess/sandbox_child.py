"""Runs inside the sandbox process: set resource limits, install an audit hook, run the program, then its tests.

Usage (by :mod:`openrlhf_weakness.assess.code_sandbox` only): ``python -I sandbox_child.py MEMORY_MB CPU_SECONDS
PROOF_FD`` with a JSON object ``{"token", "program", "tests", "eq_name"}`` on standard input. Nothing is left on disk
for the program to read. Only when the tests return does this harness write the one-time token to ``PROOF_FD``: a
program that ends the process early (``sys.exit(0)``, ``os._exit(0)``, an ``atexit`` trick) never produces it.

Equality in the tests goes through a strict comparison (``eq_name``): a value of a plain built-in type (numbers,
strings, lists, dicts, ...) only equals another plain value, so an object whose ``__eq__`` always says True fails.
The token lives only in a second audit hook, which writes it when the harness itself (checked by the calling frame's
code object) raises the done event; no frame of the program's reach holds it. The restricting audit hook (it cannot
be removed once added) refuses new processes, sockets, native-library loading, writes outside the working directory,
tracing and heap walks.
"""

import ast
import json
import os
import resource
import sys

BLOCKED = (
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "os.popen", "os.kill",
    "os.killpg", "subprocess.Popen", "pty.spawn", "socket.__new__", "socket.connect", "socket.bind",
    "socket.getaddrinfo", "socket.gethostbyname", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.setuid",
    "os.chroot", "resource.setrlimit", "sys.addaudithook", "os.putenv", "os.unsetenv", "winreg", "urllib.Request",
    "webbrowser.open",
)  # fmt: skip
INTROSPECTION = ("sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents")
DONE_EVENT = "orw.sandbox.tests_returned"
PATH_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.replace": 2, "shutil.rmtree": 1, "os.chmod": 1,
    "os.chown": 1, "os.mkdir": 1, "os.symlink": 2, "os.link": 2, "os.truncate": 1, "os.utime": 1,
    "shutil.copyfile": 2, "shutil.move": 2,
}  # fmt: skip
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


def main() -> None:
    memory_mb, cpu_seconds, proof_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    token = payload["token"].encode()
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    root = os.path.realpath(os.getcwd())
    program = compile(payload["program"], "program.py", "exec")
    tests_tree = StrictEquality(payload["eq_name"]).visit(ast.parse(payload["tests"], "tests.py"))
    tests = compile(ast.fix_missing_locations(tests_tree), "tests.py", "exec")
    strict_eq, exit_now, eq_name = make_strict_eq(), os._exit, payload["eq_name"]
    install_proof(token, proof_fd, main.__code__)
    del payload, token

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

    sys.addaudithook(hook)
    namespace = {"__name__": "__main__"}
    try:
        exec(program, namespace)
        namespace[eq_name] = strict_eq
        exec(tests, namespace)
    except SystemExit as stop:
        print(f"sandbox: the program exited (SystemExit({stop.code!r})) before its tests finished", file=sys.stderr)
        sys.stderr.flush()
        exit_now(3)
    except BaseException as err:
        import traceback

        where = [f"{f.filename} line {f.lineno}" for f in traceback.extract_tb(err.__traceback__)
                 if f.filename in ("program.py", "tests.py")]  # fmt: skip
        print(f"{type(err).__name__} ({where[-1] if where else 'sandbox'}): {err}"[:2000], file=sys.stderr)
        sys.stderr.flush()
        exit_now(1)
    sys.stdout.flush()
    sys.audit(DONE_EVENT)
    exit_now(0)


if __name__ == "__main__":
    main()
