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
