"""What a training run is assembled from before its first step: the precision it trains in and the
method (with its frozen teacher) around the student."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srkd.distill import distributed
from srkd.distill.config import DistillConfig
from srkd.distill.methods import METHODS, Method
from srkd.distill.precision import Precision, measure_cpu_speedup, precision_for_run
from srkd.distill.teacher import FrozenTeacher
from srkd.models.resolve import resolve_model


def run_precision(cfg: DistillConfig, student: nn.Module, device: torch.device, dist: distributed.DistInfo, *,
                  saved: dict[str, Any] | None) -> Precision:
    """``--precision`` for this run: ``auto`` on a CPU times the student's step both ways (every rank follows
    rank 0's figure); a resumed run (``saved``: its resume checkpoint) keeps the precision it started with."""
    def speedup() -> float:
        mine = measure_cpu_speedup(student, batch=cfg.batch, patch=cfg.patch)
        return float(distributed.all_gather(dist, mine)[0])

    auto_cpu = cfg.precision == "auto" and device.type == "cpu"
    return precision_for_run(cfg.precision, device, saved=saved, measure=speedup if auto_cpu else None)


def build_method(cfg: DistillConfig, student: nn.Module, device: torch.device, *, channels_last: bool) -> Method:
    """The KD method of ``cfg`` around ``student`` (and its frozen teacher when it needs one), on ``device``."""
    teacher = None
    if METHODS.get(cfg.method).needs_teacher:
        tmodel, _ = resolve_model(cfg.teacher, scale=cfg.scale)
        teacher = FrozenTeacher(tmodel.to(device))
    method = METHODS.get(cfg.method)(student=student, teacher=teacher, args=dict(cfg.method_args)).to(device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
        for buf in method.buffers():  # size-1 dims give overlapping strides DDP cannot broadcast
            buf.data = buf.data.clone(memory_format=torch.contiguous_format)
    return method
