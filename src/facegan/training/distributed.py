"""Many processes (GPUs, machines) through torchrun.

`torchrun --nproc_per_node N -m facegan train ...` sets RANK, LOCAL_RANK, WORLD_SIZE and
MASTER_ADDR/PORT; facegan then joins the process group (NCCL on CUDA, gloo on CPU). Gradients are
summed across processes explicitly (one flattened all-reduce per optimiser step, as stylegan3
does) rather than through DistributedDataParallel, so every process holds the same weights and the
loss normalisation is the global batch's whatever the process count.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import torch
import torch.distributed as dist

from facegan.utils.device import pick_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Dist:
    """Join the process group when launched by torchrun; otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, local_rank, world, dev)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, ctx: Dist) -> torch.Tensor:
    if ctx.world > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_grads(params: list[torch.nn.Parameter], ctx: Dist) -> None:
    """Sum the gradients of `params` over all processes (one flattened all-reduce)."""
    if ctx.world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_module(module: torch.nn.Module, ctx: Dist) -> None:
    """Make every process start from rank 0's weights and buffers."""
    if ctx.world == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def barrier(ctx: Dist) -> None:
    if ctx.world > 1:
        dist.barrier()


class StopFlag:
    """SIGINT/SIGTERM ask training to write a checkpoint and stop after the current step; every
    process stops when any one was asked."""

    def __init__(self):
        self.flag = False
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame):
        self.flag = True

    def is_set(self, ctx: Dist) -> bool:
        t = torch.tensor([float(self.flag)])
        all_reduce_sum(t, ctx)
        return float(t) > 0

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
