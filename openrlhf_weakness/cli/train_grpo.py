"""OpenRLHF's own GRPO/PPO (``openrlhf.cli.train_ppo_ray``), runnable on a host without vLLM or a GPU.

    python -m openrlhf_weakness.cli.train_grpo <every train_ppo_ray flag> [--standin.* flags]

Where the real vLLM imports and CUDA is present this is ``train_ppo_ray`` unchanged. Elsewhere the rollout engines are
a STAND-IN FOR vLLM that generates with transformers (for CI, debugging and small hardware; not vLLM's speed): a local
Ray cluster with logical GPUs starts, this project's CPU patches apply in every Ray worker, weights sync over gloo,
and OpenRLHF's trainer, experience maker, advantage estimators, losses, checkpoints, reward functions
(``--reward.remote_url <this project's hook>``) and agent executors run as they are.
"""

from __future__ import annotations

import argparse
import sys

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested

PROG = "openrlhf_weakness.cli.train_grpo"
OPENRLHF_MODULE = "openrlhf.cli.train_ppo_ray"


def _parser() -> argparse.ArgumentParser:
    from openrlhf_weakness.rollout.config import StandInConfig

    parser = argparse.ArgumentParser(add_help=False, prog=PROG)
    add_flags(parser, StandInConfig, "standin")
    return parser


def use_standin(mode: str) -> bool:
    """Whether this host gets the stand-in: asked for, or (auto) no importable vLLM or no CUDA."""
    if mode != "auto":
        return mode == "on"
    from openrlhf_weakness.patches import cuda_available
    from openrlhf_weakness.rollout import real_vllm_available

    return not (real_vllm_available() and cuda_available())


def standin_argv(argv: list[str], cuda: bool) -> tuple[list[str], list[str]]:
    """OpenRLHF's flags adjusted for the stand-in, and a note for each change: weights sync over gloo (NCCL and CUDA
    IPC need GPUs), one engine when none is asked for, an attention the CPU has."""
    from openrlhf_weakness.patches import default_attn_implementation

    out, notes = list(argv), []

    def value_of(name: str) -> str | None:
        for i, arg in enumerate(out):
            if arg == name and i + 1 < len(out):
                return out[i + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
        return None

    def set_value(name: str, value: str) -> None:
        for i, arg in enumerate(out):
            if arg == name and i + 1 < len(out):
                out[i + 1] = value
                return
            if arg.startswith(f"{name}="):
                out[i] = f"{name}={value}"
                return
        out.extend([name, value])

    if "--vllm.sync_with_ray" in out:
        raise CliError(PROG, "--vllm.sync_with_ray is not supported with the vLLM stand-in (drop it; gloo is used)")
    if value_of("--vllm.sync_backend") != "gloo":
        set_value("--vllm.sync_backend", "gloo")
        notes.append("--vllm.sync_backend gloo (NCCL and CUDA IPC need GPUs)")
    engines = value_of("--vllm.num_engines")
    if engines is None or int(engines) < 1:
        set_value("--vllm.num_engines", "1")
        notes.append("--vllm.num_engines 1 (OpenRLHF 0.11 rolls out through engines only)")
    attn = value_of("--ds.attn_implementation")
    if not cuda and (attn is None or "flash" in attn):
        set_value("--ds.attn_implementation", default_attn_implementation(cuda=False))
        notes.append(f"--ds.attn_implementation {default_attn_implementation(cuda=False)} (no flash-attn on a CPU)")
    return out, notes


@cli_entry
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    known, rest = parser.parse_known_args(argv)
    from openrlhf_weakness import openrlhf_cli

    if "-h" in rest or "--help" in rest:
        print(__doc__)
        parser.print_help()
        print(f"\nOpenRLHF flags ({OPENRLHF_MODULE}):", flush=True)
        from openrlhf_weakness import patches
        from openrlhf_weakness.rollout import cpu_ray, real_vllm_available

        if not real_vllm_available():  # train_ppo_ray imports vLLM; its parser runs the same over the stand-in
            cpu_ray.put_standin_on_path()
        patches.apply()
        openrlhf_cli.run(OPENRLHF_MODULE, ["--help"])
        return
    from openrlhf_weakness.rollout.config import StandInConfig

    cfg = from_namespace(StandInConfig, nested(known).standin)
    if not use_standin(cfg.vllm):
        from openrlhf_weakness import patches

        patches.apply()
        openrlhf_cli.run(OPENRLHF_MODULE, rest)
        return
    run_with_standin(cfg, rest)


def run_with_standin(cfg, argv: list[str]) -> None:
    import os

    from openrlhf_weakness import openrlhf_cli
    from openrlhf_weakness.patches import UnsupportedOpenRLHFVersion, cuda_available
    from openrlhf_weakness.rollout import cpu_ray, hf_engine, trace

    os.environ[hf_engine.DTYPE_ENV] = cfg.dtype
    os.environ[hf_engine.MAX_BATCH_ENV] = str(cfg.max_batch)
    if cfg.trace:
        os.environ[trace.TRACE_ENV] = os.path.abspath(cfg.trace)
    try:
        active = cpu_ray.apply_grpo_patches()
    except UnsupportedOpenRLHFVersion as err:
        raise CliError(PROG, err)
    argv, notes = standin_argv(argv, cuda_available())
    print(
        f"{PROG}: rollout engines are the vLLM STAND-IN (transformers generation, not vLLM); "
        f"patches: {', '.join(active) or 'none'}",
        file=sys.stderr,
        flush=True,
    )
    for note in notes:
        print(f"{PROG}: stand-in sets {note}", file=sys.stderr, flush=True)
    import ray

    cpu_ray.init_ray()
    try:
        openrlhf_cli.run(OPENRLHF_MODULE, argv)
    except KeyboardInterrupt:
        raise CliError(PROG, "interrupted; stopping every Ray actor this run started")
    except ray.exceptions.RayError as err:  # an actor died or raised: name it in one line (its log is above)
        raise CliError(PROG, f"stopped: {cpu_ray.describe_ray_error(err)}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
