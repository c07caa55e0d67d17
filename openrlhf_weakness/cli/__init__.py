"""Command-line entry points: each parses its flags, calls the library, writes, and reports errors in one line."""

from __future__ import annotations

import sys


class CliError(SystemExit):
    """Stop a command with exit status 2 (argparse's status for bad usage) and one line on stderr naming the command;
    the line is also the exception's text, so a caller in the same process can read it."""

    def __init__(self, prog: str, message) -> None:
        super().__init__(2)
        self.message = f"{prog}: {message}"
        print(self.message, file=sys.stderr, flush=True)

    def __str__(self) -> str:
        return self.message


def apply_patches(prog: str) -> list[str]:
    """``patches.apply()`` (the version check, then the patches this host needs), with an untested or missing OpenRLHF
    stack reported as one line naming the tested versions, exit status 2."""
    from openrlhf_weakness import patches

    try:
        return patches.apply()
    except patches.UnsupportedOpenRLHFVersion as err:
        raise CliError(prog, err) from None
