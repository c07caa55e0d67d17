"""Run OpenRLHF's Ray GRPO on a host without vLLM: a local Ray cluster with logical GPUs, the vLLM stand-in on every
worker's path and this project's CPU patches applied in every worker (Ray's worker process setup hook)."""

from __future__ import annotations

import logging
import os
import sys

from openrlhf_weakness.rollout import STANDIN_PATH

logger = logging.getLogger(__name__)

LOGICAL_GPUS = 64  # placement groups only reserve them; Ray sets CUDA_VISIBLE_DEVICES, torch still sees no CUDA
LOGICAL_CPUS = 64
FORWARDED_ENV_PREFIXES = (
    "ORW_",
    "HF_",
    "TOKENIZERS_PARALLELISM",
    "OPENRLHF_WEAKNESS_",
    "TRANSFORMERS_",
    "TORCH_EXTENSIONS_DIR",
)


def put_standin_on_path() -> None:
    """Make ``import vllm`` find the stand-in in this process (Ray workers get it through :func:`init_ray`)."""
    if STANDIN_PATH not in sys.path:
        sys.path.insert(0, STANDIN_PATH)


def _pythonpath_with_standin() -> str:
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != STANDIN_PATH]
    return os.pathsep.join([STANDIN_PATH, *parts])


def apply_grpo_patches() -> list[str]:
    """The CPU patches for OpenRLHF's DeepSpeed engines plus those for its Ray PPO actors (needs the stand-in)."""
    from openrlhf_weakness import patches
    from openrlhf_weakness.patches import ray_cpu

    put_standin_on_path()
    active = patches.apply()
    if not patches.cuda_available() and ray_cpu.PATCH.needed():
        ray_cpu.PATCH.install()
        active.append(ray_cpu.PATCH.name)
    return active


def setup_worker() -> None:
    """Ray's ``worker_process_setup_hook``: runs first in every worker the GRPO run starts."""
    apply_grpo_patches()


def init_ray(num_cpus: int = LOGICAL_CPUS, num_gpus: int = LOGICAL_GPUS) -> None:
    """Start (or join, when RAY_ADDRESS names one) a Ray cluster whose workers carry the stand-in and the patches."""
    import ray

    env_vars = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    env_vars["PYTHONPATH"] = _pythonpath_with_standin()
    env_vars.setdefault("TOKENIZERS_PARALLELISM", "false")
    env_vars.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    runtime_env = {"worker_process_setup_hook": f"{__name__}.setup_worker", "env_vars": env_vars}
    address = os.environ.get("RAY_ADDRESS")
    if address:  # a cluster started elsewhere (e.g. `ray start --head --num-gpus N` in a test session)
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, runtime_env=runtime_env, include_dashboard=False)
    logger.info("Ray up (%s logical GPUs); rollout engines are the vLLM stand-in", ray.cluster_resources().get("GPU"))


def describe_ray_error(err: Exception) -> str:
    """One line for a failed Ray task or actor: which actor (as Ray names it) and the innermost error."""
    import re

    text = str(err)
    died = re.findall(r"class_name: (\w+)", text)  # an actor whose process died
    actors = re.findall(r"ray::(\w+(?:\.\w+)?)\(\)", text)  # the tasks the error passed through
    lines = [line.strip() for line in text.splitlines() if line.strip() and "class_name" not in line]
    if died:
        return (
            f"the Ray actor {died[-1]} died" + (f" (during {actors[-1]})" if actors else "") + f": {lines[-1][:200]}"
        )
    where = f" in {actors[-1]}" if actors else ""
    return f"{type(err).__name__}{where}: {(lines or [type(err).__name__])[-1][:300]}"
