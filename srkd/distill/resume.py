"""The resume checkpoint: everything needed to continue a run exactly, readable with weights_only=True."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from srkd.distill import distributed
from srkd.errors import TrainingError
from srkd.fsutil import atomic_save

if TYPE_CHECKING:
    from srkd.distill.trainer import Trainer

RESUME_FILE = "resume.pt"


def rank_rng(trainer: "Trainer") -> dict:
    """This rank's RNG states (torch CPU, CUDA) and data position."""
    return {"torch": torch.get_rng_state(), "data": trainer.loader.position(),
            "cuda": torch.cuda.get_rng_state(trainer.device) if trainer.device.type == "cuda" else torch.empty(0)}


def save(trainer: "Trainer") -> None:
    """Gather every rank's RNG states; rank 0 writes the file atomically; all ranks wait for it."""
    rngs = distributed.all_gather(trainer.dist, rank_rng(trainer))
    if trainer.dist.main:
        state = {
            "step": trainer.step, "world_size": trainer.dist.world, "precision": trainer.prec.name,
            "student": trainer.student.state_dict(), "ema": trainer.ema.state_dict(),
            "method": trainer.method.helper_state(), "optimizer": trainer.opt.state_dict(),
            "scaler": trainer.scaler.state_dict(),  # fp16's loss scale ({} when not fp16)
            "best_psnr": trainer.best_psnr if trainer.best_psnr is not None else float("nan"),
            "rng": [{k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in r.items()} for r in rngs],
        }
        atomic_save(trainer.out / RESUME_FILE, lambda tmp: torch.save(state, tmp))
    distributed.barrier(trainer.dist)


def read(out: str | Path) -> dict:
    """The resume checkpoint of the run folder ``out``; TrainingError when missing or unreadable."""
    path = Path(out) / RESUME_FILE
    if not path.is_file():
        raise TrainingError(f"{path}: no resume checkpoint in this run folder")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign or damaged file
        raise TrainingError(f"{path}: not a readable resume checkpoint ({str(exc).splitlines()[0][:160]})") from None


def load(trainer: "Trainer", state: dict) -> str:
    """Restore ``trainer`` from ``state`` (``read``'s); returns this rank's data position."""
    path = Path(trainer.out) / RESUME_FILE
    if int(state.get("world_size", 1)) != trainer.dist.world:
        raise TrainingError(f"{path}: saved by {state.get('world_size', 1)} processes, resumed with "
                            f"{trainer.dist.world}; resume with the same --nproc-per-node x nodes")
    trainer.student.load_state_dict(state["student"])
    trainer.ema.load_state_dict(state["ema"])
    missing, unexpected = trainer.method.load_state_dict(state["method"], strict=False)
    helper_missing = [k for k in missing if not k.startswith(("student.", "teacher."))]
    if helper_missing or unexpected:
        raise TrainingError(f"{path}: the method's saved state does not fit this config "
                            f"(missing {helper_missing[:3]}, unexpected {unexpected[:3]})")
    trainer.opt.load_state_dict(state["optimizer"])
    if state.get("scaler") and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.step = int(state["step"])
    best = float(state["best_psnr"])
    trainer.best_psnr = None if math.isnan(best) else best
    mine = state["rng"][trainer.dist.rank]
    torch.set_rng_state(mine["torch"])
    if trainer.device.type == "cuda" and mine["cuda"].numel():
        torch.cuda.set_rng_state(mine["cuda"], trainer.device)
    return mine["data"]
