"""Weight sync between OpenRLHF's policy (rank 0) and the stand-in engines over gloo instead of NCCL.

OpenRLHF builds the group with vLLM's ``StatelessProcessGroup.create`` and ``PyNcclCommunicator(pg, device)``, then
calls ``broadcast(tensor, src, stream)``. These stand-ins make a private gloo group over a ``TCPStore`` at the same
address, apart from DeepSpeed's default process group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from openrlhf_weakness.rollout.trace import Trace

SYNC_TIMEOUT = timedelta(minutes=10)


@dataclass
class StatelessProcessGroup:
    """Where the group meets (vLLM's class of the same name holds a store; this one only the address)."""

    host: str
    port: int
    rank: int
    world_size: int

    @classmethod
    def create(cls, host: str, port: int, rank: int, world_size: int, **_ignored) -> "StatelessProcessGroup":
        return cls(host, int(port), int(rank), int(world_size))


class GlooCommunicator:
    """Answers OpenRLHF's ``PyNcclCommunicator`` calls with a gloo process group on the CPU."""

    def __init__(self, group: StatelessProcessGroup, device=None):
        import torch.distributed as dist

        self.rank, self.world_size = group.rank, group.world_size
        store = dist.TCPStore(
            group.host, group.port, group.world_size, is_master=group.rank == 0, timeout=SYNC_TIMEOUT
        )
        self.group = dist.ProcessGroupGloo(store, group.rank, group.world_size, SYNC_TIMEOUT)
        self.trace = Trace.from_env()

    def broadcast(self, tensor, src: int = 0, stream=None):
        staged = tensor if tensor.is_contiguous() else tensor.contiguous()
        self.group.broadcast(staged, src).wait()
        if staged is not tensor:
            tensor.copy_(staged)
        if self.rank == src and self.trace.enabled:  # the policy's side of the trace: what it sent, in order
            self.trace.write(event="send", digest=tensor_digest(tensor))
        return tensor


def tensor_digest(tensor) -> str:
    """Digest of one tensor's values (the trace's per-tensor check of a weight sync)."""
    digest = TensorDigest()
    digest.update(tensor)
    return digest.hexdigest()


class TensorDigest:
    """An order-sensitive sha256 over tensors' float32 values: the same weights give the same digest on both sides."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self.count = 0

    def update(self, tensor) -> None:
        import torch

        self._hash.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()[:16]


def state_digest(named_tensors) -> str:
    """Digest of (name, tensor) pairs in name order, e.g. a model's parameters or a saved checkpoint's."""
    digest = TensorDigest()
    for _, tensor in sorted(named_tensors, key=lambda item: item[0]):
        digest.update(tensor)
    return digest.hexdigest()


class EngineSyncGroup:
    """One stand-in engine's ranks in the weight-sync group: an engine with tensor-parallel size k holds k ranks
    (OpenRLHF counts them in the world size), so it joins as each of them and receives every broadcast k times."""

    def __init__(self, host: str, port: int, first_rank: int, num_ranks: int, world_size: int):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=num_ranks, thread_name_prefix="standin-sync")
        ranks = range(first_rank, first_rank + num_ranks)
        futures = [
            self._pool.submit(GlooCommunicator, StatelessProcessGroup(host, port, rank, world_size)) for rank in ranks
        ]
        self.members = [f.result() for f in futures]  # each blocks until the whole group has met

    def receive(self, shape, dtype):
        """The tensor rank 0 broadcasts next."""
        import torch

        buffers = [torch.empty(shape, dtype=dtype) for _ in self.members]
        futures = [self._pool.submit(m.broadcast, b, 0) for m, b in zip(self.members, buffers)]
        for future in futures:
            future.result()
        return buffers[0]
