"""Runs inside the sandbox process: set resource limits, install an audit hook, then run ``program.py``.

The audit hook (it cannot be removed once added) refuses new processes, sockets, native-library loading and any
write, delete or rename outside the working directory. Limits: address space, CPU seconds, file size, no core files.
Usage (by :mod:`openrlhf_weakness.assess.code_sandbox` only): ``python -I sandbox_child.py MEMORY_MB CPU_SECONDS``.
"""

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
PATH_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.replace": 2, "shutil.rmtree": 1, "os.chmod": 1,
    "os.chown": 1, "os.mkdir": 1, "os.symlink": 2, "os.link": 2, "os.truncate": 1, "os.utime": 1,
    "shutil.copyfile": 2, "shutil.move": 2,
}  # fmt: skip
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def main() -> None:
    memory_mb, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    root = os.path.realpath(os.getcwd())
    with open("program.py", encoding="utf-8") as f:
        source = f.read()

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
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS
            if path is not None and writing and not inside(path):
                refuse("writing", f" outside the sandbox: {path}")
        elif event in PATH_EVENTS:
            for path in args[: PATH_EVENTS[event]]:
                if path is not None and not isinstance(path, int) and not inside(path):
                    refuse(event, f" outside the sandbox: {path}")

    code = compile(source, "program.py", "exec")
    sys.addaudithook(hook)
    exec(code, {"__name__": "__main__"})


if __name__ == "__main__":
    main()
