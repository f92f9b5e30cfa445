"""Data-parallel plumbing: one process per device when launched by ``torchrun``.

``torchrun --nproc-per-node K -m flowem.prior.train ...`` sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK`` and the rendezvous address; a plain launch is a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def start_world(prefer_device: torch.device) -> World:
    """Join the process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, gloo on CPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(device=prefer_device)
    rank = int(os.environ["RANK"])
    if prefer_device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return World(rank=rank, size=size, device=device)


def stop_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_finite(world: World, *values: torch.Tensor) -> bool:
    """True when every value is finite on every process (all ranks must stop together)."""
    flag = torch.stack([torch.isfinite(v.detach().float()).all() for v in values]).all()
    if world.distributed:
        flag = flag.to(world.device, torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def mean_over_processes(value: torch.Tensor, world: World) -> torch.Tensor:
    """Average of ``value`` over all processes (itself in a world of one)."""
    if not world.distributed:
        return value
    value = value.to(world.device).clone()
    dist.all_reduce(value)
    return value / world.size


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
