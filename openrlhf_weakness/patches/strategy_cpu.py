"""Point OpenRLHF's ``DeepspeedStrategy`` at the CPU: device mesh, device and synchronisation calls.

OpenRLHF 0.11.2 hard-codes ``torch.cuda.set_device``, ``init_device_mesh("cuda", ...)``, ``torch.cuda.current_device()``
(in ``all_reduce``/``all_gather``) and ``torch.cuda.synchronize()``. The change is scoped to the strategy module:
it sees a ``torch`` whose ``cuda`` namespace answers for the CPU, and the rest of the process keeps the real one.
"""

from __future__ import annotations

from openrlhf_weakness.patches import Patch

STRATEGY_MODULE = "openrlhf.utils.deepspeed.deepspeed"


class CpuCuda:
    """Stands in for ``torch.cuda`` inside the strategy module: the current device is the CPU, sync is a no-op."""

    def __init__(self, real_cuda):
        self._real = real_cuda

    def set_device(self, device) -> None:
        pass

    def current_device(self) -> str:
        return "cpu"

    def synchronize(self, device=None) -> None:
        pass

    def empty_cache(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._real, name)


class TorchWithCpuCuda:
    """``torch`` as the strategy module sees it: every attribute is the real one except ``cuda``."""

    def __init__(self, real_torch):
        self._real = real_torch
        self.cuda = CpuCuda(real_torch.cuda)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _installed() -> bool:
    import importlib

    module = importlib.import_module(STRATEGY_MODULE)
    return isinstance(module.torch, TorchWithCpuCuda)


def _install() -> None:
    import importlib

    import torch
    import torch.distributed as dist

    module = importlib.import_module(STRATEGY_MODULE)
    real_mesh = module.init_device_mesh

    def init_device_mesh_on_cpu(device_type, *args, **kwargs):
        return real_mesh("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    def barrier_without_cuda_sync() -> None:
        dist.barrier()

    module.torch = TorchWithCpuCuda(torch)
    module.init_device_mesh = init_device_mesh_on_cpu
    module.torch_dist_barrier_and_cuda_sync = barrier_without_cuda_sync


PATCH = Patch(
    name="strategy_cpu",
    why="DeepspeedStrategy calls torch.cuda.set_device/current_device/synchronize and builds a 'cuda' device mesh",
    needed=lambda: not _installed(),
    install=_install,
)
