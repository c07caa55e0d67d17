"""Point OpenRLHF's Ray PPO/GRPO actors at the CPU: the same scoped ``torch`` as :mod:`strategy_cpu`, in the modules
of the policy, reference and critic actors, the replay buffer and DeepSpeed's sleep helpers.

OpenRLHF 0.11.2 calls ``torch.cuda.current_device/current_stream/empty_cache/synchronize`` there and builds the replay
buffer's device as ``f"cuda:{torch.cuda.current_device()}"`` (first failure without this: ``replay_buffer.py:40``
"Torch not compiled with CUDA enabled"). Only for GRPO through the vLLM stand-in: the modules import vLLM, so this
is applied after the stand-in is on ``sys.path`` and only on hosts without CUDA, in the driver (Ray pickles OpenRLHF's remote classes with the
driver's module globals) and in every Ray worker.
"""

from __future__ import annotations

from openrlhf_weakness.patches import Patch

MODULES = (
    "openrlhf.trainer.ray.ppo_actor",
    "openrlhf.trainer.ray.ppo_critic",
    "openrlhf.trainer.ray.launcher",
    "openrlhf.trainer.ppo_utils.replay_buffer",
    "openrlhf.utils.deepspeed.deepspeed_utils",
)


def _no_cuda_sync(*args, **kwargs) -> None:
    """``torch.cuda.synchronize``/``empty_cache`` on a host without CUDA: nothing to wait for or free."""


def _installed() -> bool:
    import importlib

    import torch

    from openrlhf_weakness.patches.strategy_cpu import TorchWithCpuCuda

    return torch.cuda.synchronize is _no_cuda_sync and all(
        isinstance(importlib.import_module(name).torch, TorchWithCpuCuda) for name in MODULES
    )


def _install() -> None:
    import importlib

    import torch

    from openrlhf_weakness.patches.strategy_cpu import TorchWithCpuCuda, barrier_without_cuda_sync

    # DeepSpeed's sleep helpers (--ds.enable_sleep) import torch inside the function and sync CUDA after moving
    # states; in these processes nothing can use CUDA, so both calls become no-ops process-wide
    torch.cuda.synchronize = _no_cuda_sync
    torch.cuda.empty_cache = _no_cuda_sync
    for name in MODULES:
        module = importlib.import_module(name)
        module.torch = TorchWithCpuCuda(torch)
        if hasattr(module, "torch_dist_barrier_and_cuda_sync"):
            module.torch_dist_barrier_and_cuda_sync = barrier_without_cuda_sync


PATCH = Patch(
    name="ray_cpu",
    why="OpenRLHF's Ray PPO actors and replay buffer call torch.cuda and build 'cuda:N' devices",
    needed=lambda: not _installed(),
    install=_install,
)
