"""Drive OpenRLHF's own CLI modules: parse flags with their real parser, or run them with components swapped in.

Nothing of OpenRLHF's argument list is re-declared here, so every flag of the installed version keeps working.
"""

from __future__ import annotations

import runpy
import sys
from types import SimpleNamespace


class _ArgsCaptured(Exception):
    def __init__(self, args):
        super().__init__("captured")
        self.parsed = args


def parse_args(module: str, argv: list[str]) -> SimpleNamespace:
    """Run ``module``'s ``__main__`` block up to its first ``get_strategy(args)`` call and return those args.

    The module's own argparse parser, defaults and post-processing apply; unknown flags exit with its own error.
    """
    import openrlhf.utils

    real = openrlhf.utils.get_strategy

    def capture(args):
        raise _ArgsCaptured(args)

    saved_argv = sys.argv
    openrlhf.utils.get_strategy = capture
    try:
        sys.argv = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    except _ArgsCaptured as captured:
        return captured.parsed
    finally:
        openrlhf.utils.get_strategy = real
        sys.argv = saved_argv
    raise RuntimeError(f"{module} finished without calling get_strategy; cannot read its arguments")


def run(module: str, argv: list[str]) -> None:
    """Run ``module`` as ``python -m module argv`` in this process (after the caller swapped in its components)."""
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
