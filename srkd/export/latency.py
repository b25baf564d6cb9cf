"""Latency of a Runner: p50/p95/p99 milliseconds and output megapixels per second per input size.

Warm-up runs are excluded. The host is recorded with the figures (CPU model, threads, GPU), since
a latency number means nothing without the machine that produced it.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Sequence

import numpy as np
import torch

from srkd.backends.runner import Runner
from srkd.host import cpu_model

log = logging.getLogger(__name__)


def _gpu_of(runner: Runner) -> torch.device | None:
    """The CUDA device a runner computes on (torch, ONNX Runtime's CUDA/TensorRT providers, TensorRT), else None."""
    device = torch.device(getattr(runner, "device", "cpu"))
    return device if device.type == "cuda" else None


def gpu_name(device: torch.device) -> str:
    """The GPU's name, or ``CUDA device N`` when torch cannot tell (a CPU build beside onnxruntime-gpu)."""
    try:
        return torch.cuda.get_device_name(device)
    except (AssertionError, RuntimeError):
        return f"CUDA device {device.index or 0}"


def host_info(runner: Runner | None = None) -> dict[str, Any]:
    """CPU model, logical CPUs, the thread count the runner's backend uses, and the GPU when it runs on one."""
    info: dict[str, Any] = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    info.update(runner.thread_info() if runner is not None else {})
    info.setdefault("threads", info["torch_threads"])  # a runner that says nothing computes on torch's threads
    gpu = _gpu_of(runner) if runner is not None else None
    info["gpu"] = gpu_name(gpu) if gpu is not None else None
    return info


@dataclasses.dataclass(kw_only=True)
class SizeLatency:
    """Timings of one input size (LR ``size`` x ``size``, ``batch`` images per call)."""

    size: int
    batch: int
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    mp_per_s: float  # output megapixels per second at the median time

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(kw_only=True)
class LatencyResult:
    """Per-size timings of one runner plus the host they were measured on."""

    name: str
    host: dict[str, Any]
    sizes: list[SizeLatency]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.host, "sizes": [s.to_dict() for s in self.sizes]}


def settle_allocator() -> None:
    """Put glibc's malloc into its steady state before timing anything.

    glibc serves large blocks with mmap until a large mmapped block is freed, which raises its
    threshold so that later blocks of that size come from the heap. Until then every 2 MiB feature
    map costs fresh page faults: measured here, a torch conv stack ran 2.5x slower (16 vs 6.5 ms) in a
    process that had not yet freed a big block. Freeing one 30 MiB block now makes every measurement
    see the steady state a long-running process has; elsewhere it is a harmless allocation.
    """
    block = np.empty(30 << 20, dtype=np.uint8)
    del block


def _fit(size: int, runner: Runner) -> int:
    req = runner.spec.size_req
    size = max(size, req.minimum)
    return size + (-size) % req.multiple_of


def measure_latency(
    runner: Runner, *, sizes: Sequence[int] = (64, 128, 256), runs: int = 20, warmup: int = 3, batch: int = 1,
    seed: int = 0,
) -> LatencyResult:
    """Time ``runs`` calls of the active ``runner`` per square LR size after ``warmup`` untimed calls.

    Sizes are rounded up to the model's size requirement; a fixed-shape runner is timed at its one side
    instead. Timing is the runner's own wall time per ``infer`` call (host-to-host, so GPU copies are
    included).
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    settle_allocator()
    rng = np.random.default_rng(seed)
    scale, channels = runner.spec.scale, runner.spec.in_channels
    rows = []
    if runner.fixed_side is not None:
        sizes = [runner.fixed_side]
    for size in sizes:
        side = _fit(int(size), runner)
        x = rng.random((batch, channels, side, side), dtype=np.float32)
        runner.warmup(x, runs=warmup)
        times = []
        for _ in range(runs):
            runner.infer(x)
            times.append(runner.last_ms)
        t = np.asarray(times, dtype=np.float64)
        p50, p95, p99 = (float(v) for v in np.percentile(t, [50, 95, 99]))
        out_mp = batch * (side * scale) ** 2 / 1e6
        rows.append(SizeLatency(size=side, batch=batch, runs=runs, p50_ms=p50, p95_ms=p95, p99_ms=p99,
                                mean_ms=float(t.mean()), min_ms=float(t.min()), mp_per_s=out_mp / (p50 / 1e3) if p50 > 0 else float("inf")))
        log.info("latency %s %dpx: p50 %.2f ms, %.2f MP/s", runner.name, side, p50, rows[-1].mp_per_s)
    return LatencyResult(name=runner.name, host=host_info(runner), sizes=rows)
