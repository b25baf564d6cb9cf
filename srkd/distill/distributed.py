"""torch.distributed plumbing for ``srkd distill`` under torchrun: one process per device.

Nothing here runs in a plain single-process run (``WORLD_SIZE`` unset or 1).
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live (nccl needs CUDA tensors)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); returns (info, this rank's device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
        log.info("rank %d/%d joined (%s) on %s", rank, world, backend, device)
    return DistInfo(rank=rank, world=world, local_rank=local, device=str(device)), device


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_gather(info: DistInfo, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` in one process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def mean(info: DistInfo, values: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over the ranks (same keys on every rank)."""
    if not info.enabled:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: float(v) / info.world for k, v in zip(keys, t)}


def any_true(info: DistInfo, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, info: DistInfo, device: torch.device, *, find_unused: bool) -> torch.nn.Module:
    """``module`` in DistributedDataParallel under torchrun (``find_unused``: some parameters may get no
    gradient in a step), else ``module`` itself."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)


def gather_rng(info: DistInfo, device: torch.device, *, data: Any) -> list[dict[str, Any]]:
    """Every rank's RNG states (torch CPU, CUDA; CPU tensors) and its data position ``data``; collective."""
    mine = {"torch": torch.get_rng_state(), "data": data,
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.empty(0)}
    return [{k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in r.items()} for r in all_gather(info, mine)]


def restore_rng(saved: dict[str, Any], device: torch.device) -> Any:
    """Set this process's RNG states from one rank's ``gather_rng`` entry; returns its data position."""
    torch.set_rng_state(saved["torch"])
    if device.type == "cuda" and saved["cuda"].numel():
        torch.cuda.set_rng_state(saved["cuda"], device)
    return saved["data"]
