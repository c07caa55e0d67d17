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
    ``train_ppo_ray`` starts Ray just before that call; while parsing, Ray reads as started so nothing starts.
    """
    import openrlhf.utils

    argv, dtype = _split_param_dtype(argv)
    real = openrlhf.utils.get_strategy

    def capture(args):
        raise _ArgsCaptured(args)

    saved_argv = sys.argv
    openrlhf.utils.get_strategy = capture
    ray, ray_started = _ray_reads_as_started()
    try:
        sys.argv = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    except _ArgsCaptured as captured:
        if dtype:
            captured.parsed.ds.param_dtype = dtype
        return captured.parsed
    finally:
        openrlhf.utils.get_strategy = real
        sys.argv = saved_argv
        if ray is not None:
            ray.is_initialized = ray_started
    raise RuntimeError(f"{module} finished without calling get_strategy; cannot read its arguments")


def _ray_reads_as_started():
    """(ray, its real ``is_initialized``) with ``is_initialized`` answering True; (None, None) without Ray."""
    try:
        import ray
    except ImportError:
        return None, None
    real = ray.is_initialized
    ray.is_initialized = lambda: True
    return ray, real


def run(module: str, argv: list[str]) -> None:
    """Run ``module`` as ``python -m module argv`` in this process (after the caller swapped in its components)."""
    argv, dtype = _split_param_dtype(argv)
    if dtype:
        import openrlhf.utils

        real = openrlhf.utils.get_strategy

        def get_strategy_with_dtype(args):
            args.ds.param_dtype = dtype
            return real(args)

        openrlhf.utils.get_strategy = get_strategy_with_dtype
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _split_param_dtype(argv: list[str]) -> tuple[list[str], str | None]:
    """OpenRLHF's argv with ``--ds.param_dtype fp32`` passed to its parser as bf16, and the dtype to set back on the
    parsed arguments (None: nothing to set), where the CPU patch that teaches OpenRLHF float32 is active (elsewhere
    its parser refuses fp32)."""
    from openrlhf_weakness import patches
    from openrlhf_weakness.patches import fp32_params

    if fp32_params.PATCH.name not in patches.active():
        return argv, None
    argv, fp32 = fp32_params.split_param_dtype(argv)
    return argv, fp32_params.FP32 if fp32 else None
