"""Command-line entry points: each parses its flags, calls the library, writes, and reports errors in one line."""

from __future__ import annotations

import functools
import logging
import sys


class CliError(SystemExit):
    """Stop a command with exit status 2 (argparse's status for bad usage) and one line naming the command, which
    :func:`cli_entry` prints on stderr; the line is also the exception's text, for a caller in the same process."""

    def __init__(self, prog: str, message) -> None:
        super().__init__(2)
        self.message = f"{prog}: {message}"

    def __str__(self) -> str:
        return self.message


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of the record (a test's capture, a redirect)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def show_library_logs() -> None:
    """The library logs through ``logging``; a command shows its INFO records (stage progress, decisions) on stdout,
    as plain lines. Installed once per process."""
    logger = logging.getLogger("openrlhf_weakness")
    if not any(isinstance(h, _CurrentStdout) for h in logger.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def cli_entry(main):
    """Every command's ``main`` goes through this: a :class:`CliError` becomes its one line on stderr and exit status
    2; any other exception keeps its traceback."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        show_library_logs()
        try:
            return main(*args, **kwargs)
        except CliError as err:  # printed once, then raised on: status 2, and its text for in-process callers
            if not getattr(err, "printed", False):
                print(err.message, file=sys.stderr, flush=True)
                err.printed = True
            raise

    return run


def apply_patches(prog: str) -> list[str]:
    """``patches.apply()`` (the version check, then the patches this host needs), with an untested or missing OpenRLHF
    stack reported as one line naming the tested versions, exit status 2."""
    from openrlhf_weakness import patches

    try:
        return patches.apply()
    except patches.UnsupportedOpenRLHFVersion as err:
        raise CliError(prog, err) from None
