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

    argv, fp32 = _split_fp32(argv)
    real = openrlhf.utils.get_strategy

    def capture(args):
        raise _ArgsCaptured(args)

    saved_argv = sys.argv
    openrlhf.utils.get_strategy = capture
    try:
        sys.argv = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    except _ArgsCaptured as captured:
        if fp32:
            captured.parsed.ds.param_dtype = "fp32"
        return captured.parsed
    finally:
        openrlhf.utils.get_strategy = real
        sys.argv = saved_argv
    raise RuntimeError(f"{module} finished without calling get_strategy; cannot read its arguments")


def run(module: str, argv: list[str]) -> None:
    """Run ``module`` as ``python -m module argv`` in this process (after the caller swapped in its components)."""
    argv, fp32 = _split_fp32(argv)
    if fp32:
        import openrlhf.utils

        real = openrlhf.utils.get_strategy

        def get_strategy_fp32(args):
            args.ds.param_dtype = "fp32"
            return real(args)

        openrlhf.utils.get_strategy = get_strategy_fp32
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _split_fp32(argv: list[str]) -> tuple[list[str], bool]:
    """OpenRLHF's argv with ``--ds.param_dtype fp32`` passed to its parser as bf16 and set back on the parsed
    arguments, where the CPU patch that teaches OpenRLHF float32 is active (elsewhere its parser refuses fp32)."""
    from openrlhf_weakness import patches

    if "fp32_params" not in patches.active():
        return argv, False
    from openrlhf_weakness.patches.fp32_params import split_param_dtype

    return split_param_dtype(argv)
