"""Point OpenRLHF's ``DeepspeedStrategy`` at the CPU: device mesh, device and synchronisation calls.

OpenRLHF 0.11.2 hard-codes ``torch.cuda.set_device``, ``init_device_mesh("cuda", ...)``, ``torch.cuda.current_device()``
(in ``all_reduce``/``all_gather``) and ``torch.cuda.synchronize()``. The change is scoped to the strategy module:
it sees a ``torch`` whose ``cuda`` namespace answers for the CPU, and the rest of the process keeps the real one.
"""

from __future__ import annotations

from openrlhf_weakness.patches import Patch

STRATEGY_MODULE = "openrlhf.utils.deepspeed.deepspeed"


class CpuCuda:
    """Stands in for ``torch.cuda`` inside a patched module: the current device is the CPU, sync is a no-op."""

    def __init__(self, real_cuda):
        self._real = real_cuda

    def __reduce__(self):  # Ray pickles OpenRLHF's remote classes with their module globals, this among them
        return (CpuCuda, (self._real,))

    def set_device(self, device) -> None:
        pass

    def current_device(self) -> str:
        return "cpu"

    def current_stream(self, device=None):
        return None

    def synchronize(self, device=None) -> None:
        pass

    def empty_cache(self) -> None:
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real, name)


class TorchWithCpuCuda:
    """``torch`` as a patched module sees it: every attribute is the real one except ``cuda``, and ``device`` maps a
    CUDA device ("cuda", "cuda:0", "cuda:cpu" from ``f"cuda:{torch.cuda.current_device()}"``) to the CPU."""

    def __init__(self, real_torch):
        self._real = real_torch
        self.cuda = CpuCuda(real_torch.cuda)

    def __reduce__(self):
        return (TorchWithCpuCuda, (self._real,))

    def device(self, spec, *args):
        if isinstance(spec, str) and spec.startswith("cuda"):
            return self._real.device("cpu")
        return self._real.device(spec, *args)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real, name)


def barrier_without_cuda_sync() -> None:
    """OpenRLHF's ``torch_dist_barrier_and_cuda_sync`` without the CUDA half."""
    import torch.distributed as dist

    dist.barrier()


def _installed() -> bool:
    import importlib

    module = importlib.import_module(STRATEGY_MODULE)
    return isinstance(module.torch, TorchWithCpuCuda)


def _install() -> None:
    import importlib

    import torch

    module = importlib.import_module(STRATEGY_MODULE)
    real_mesh = module.init_device_mesh

    def init_device_mesh_on_cpu(device_type, *args, **kwargs):
        return real_mesh("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    module.torch = TorchWithCpuCuda(torch)
    module.init_device_mesh = init_device_mesh_on_cpu
    module.torch_dist_barrier_and_cuda_sync = barrier_without_cuda_sync


PATCH = Patch(
    name="strategy_cpu",
    why="DeepspeedStrategy calls torch.cuda.set_device/current_device/synchronize and builds a 'cuda' device mesh",
    needed=lambda: not _installed(),
    install=_install,
)
