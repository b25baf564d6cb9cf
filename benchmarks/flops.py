"""FLOPs of a model and the GFLOP/s this machine achieves, to put a latency into perspective.

``conv_flops(model, height=, width=)`` counts the multiply-adds of every ``nn.Conv2d`` and
``nn.Linear`` in one forward of a 1-image input (as FLOPs = 2 x MACs; biases, activations, pixel
shuffles and additions are not counted). ``measure_peaks(threads=)`` times a large matmul and a
64 -> 64 3x3 convolution in fp32 and bf16 with ``threads`` torch threads::

    from flops import conv_flops, measure_peaks

    flops = conv_flops(model, height=256, width=256)
    peaks = measure_peaks(threads=4)  # {"matmul_fp32": GFLOP/s, ..., "conv3x3_bf16": GFLOP/s}
    share = flops / (p50_ms / 1e3) / 1e9 / peaks["conv3x3_bf16"]
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

log = logging.getLogger(__name__)

PEAK_KEYS = ("matmul_fp32", "matmul_bf16", "conv3x3_fp32", "conv3x3_bf16")


def _conv_hook(counts: list[int]) -> Callable[[nn.Module, Any, torch.Tensor], None]:
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        per_out = (module.in_channels // module.groups) * kh * kw
        counts.append(2 * per_out * output.numel())  # numel = batch * Cout * Hout * Wout

    return hook


def _linear_hook(counts: list[int]) -> Callable[[nn.Module, Any, torch.Tensor], None]:
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Linear)
        counts.append(2 * module.in_features * output.numel())  # numel = tokens * out_features

    return hook


def _cpu_fp32(model: nn.Module) -> nn.Module:
    """``model`` itself when it already lives on the CPU in fp32, else a converted copy (never in place)."""
    tensors = [*model.parameters(), *model.buffers()]
    if all(t.device.type == "cpu" and (t.dtype == torch.float32 or not t.is_floating_point()) for t in tensors):
        return model
    return copy.deepcopy(model).to("cpu", torch.float32)


def conv_flops(model: nn.Module, *, height: int, width: int, channels: int = 3) -> int:
    """FLOPs (2 x MACs) of the convolutions and linear layers in one forward of a 1 x channels x height x width input.

    The forward runs on the CPU in fp32 under ``torch.inference_mode()`` in eval mode (a model held
    elsewhere or in another dtype is copied first; the training flag is restored afterwards).
    """
    net = _cpu_fp32(model)
    counts: list[int] = []
    handles = []
    was_training = net.training
    try:
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                handles.append(module.register_forward_hook(_conv_hook(counts)))
            elif isinstance(module, nn.Linear):
                handles.append(module.register_forward_hook(_linear_hook(counts)))
        net.eval()
        with torch.inference_mode():
            net(torch.zeros(1, channels, height, width, dtype=torch.float32))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    total = sum(counts)
    log.debug("conv_flops: %d layers, %.3f GFLOP at %dx%d", len(counts), total / 1e9, height, width)
    return total


def _best_seconds(fn: Callable[[], object], *, seconds: float, warmup: int = 2) -> float:
    """The fastest of repeated calls of ``fn`` after ``warmup`` calls, repeating for about ``seconds`` (at least once)."""
    for _ in range(warmup):
        fn()
    best, spent = float("inf"), 0.0
    while spent < seconds or best == float("inf"):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return best


def measure_peaks(*, threads: int, seconds: float = 1.0, matmul_n: int = 2048, conv_side: int = 256) -> dict[str, float]:
    """Achieved GFLOP/s with ``threads`` torch threads, best call of each over about ``seconds``.

    Keys (``PEAK_KEYS``): ``matmul_fp32`` / ``matmul_bf16`` (``matmul_n``-square matrices) and
    ``conv3x3_fp32`` / ``conv3x3_bf16`` (``F.conv2d``, 64 -> 64 channels, 3x3, padding 1, input
    1 x 64 x ``conv_side`` x ``conv_side``, input and weight channels_last; bf16 tensors, no autocast).
    The previous ``torch.get_num_threads()`` is restored afterwards.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        peaks: dict[str, float] = {}
        n = matmul_n
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        x = torch.rand(1, 64, conv_side, conv_side, generator=gen).contiguous(memory_format=torch.channels_last)
        w = (torch.rand(64, 64, 3, 3, generator=gen) - 0.5).contiguous(memory_format=torch.channels_last)
        mm_flops, conv_flops_ = 2 * n**3, 2 * 64 * 9 * 64 * conv_side**2
        with torch.inference_mode():
            for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
                am, bm = a.to(dtype), b.to(dtype)
                xc = x.to(dtype).contiguous(memory_format=torch.channels_last)
                wc = w.to(dtype).contiguous(memory_format=torch.channels_last)
                mm_s = _best_seconds(lambda am=am, bm=bm: torch.mm(am, bm), seconds=seconds)
                conv_s = _best_seconds(lambda xc=xc, wc=wc: F.conv2d(xc, wc, padding=1), seconds=seconds)
                peaks[f"matmul_{tag}"] = mm_flops / mm_s / 1e9
                peaks[f"conv3x3_{tag}"] = conv_flops_ / conv_s / 1e9
    finally:
        torch.set_num_threads(previous)
    log.info("peaks with %d threads: %s", threads, ", ".join(f"{k} {peaks[k]:.1f} GFLOP/s" for k in PEAK_KEYS))
    return {k: peaks[k] for k in PEAK_KEYS}
