"""Pick the training/inference precision: bf16 autocast + channels_last where the hardware runs it fast."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from functools import lru_cache
from typing import Callable

import torch

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


BF16_UNITS = frozenset({"amx_bf16", "avx512_bf16"})
# What explicit --precision bf16 gets on a CPU without those units (measured on an AVX2-only AMD EPYC:
# a bf16 training step of EDSR 32x8 / Compact 64x8 9-12x slower than fp32; benchmarks/conv_precision.py).
EMULATED_BF16 = ("this CPU has no bf16 instructions (amx_bf16/avx512_bf16), so bf16 is emulated: "
                 "expect it ~10x slower than fp32")


def cpu_bf16_units() -> list[str]:
    """The CPU's bf16 instruction sets (sorted flag names; empty where it has none or /proc/cpuinfo is unreadable)."""
    return sorted(cpu_flags() & BF16_UNITS)


@dataclasses.dataclass(frozen=True)
class Precision:
    """The resolved choice, and why it was made (recorded in the run and the manifest)."""

    name: str  # fp32 | bf16 | fp16
    channels_last: bool
    reason: str
    emulated: bool = False  # no hardware units for this precision here: slower than fp32 (logged as a warning)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def gpu_has_bf16() -> bool:
    """The current CUDA GPU computes bf16 natively (compute capability 8.0+); emulation does not count."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before 2.4 had no including_emulation (and counted no emulation)
        return bool(torch.cuda.is_bf16_supported())


def grad_scaler(precision: Precision, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled for fp16 only: fp16's 5 exponent bits flush small gradients to zero unless
    the loss is scaled up first (bf16 has fp32's range and needs none). Disabled, it passes through."""
    return torch.amp.GradScaler(device.type, enabled=precision.name == "fp16")


# bf16 + channels_last must beat fp32 by this much on the student's own step to be chosen on a CPU
MIN_CPU_SPEEDUP = 1.1


def measure_cpu_speedup(model: torch.nn.Module, *, batch: int, patch: int, runs: int = 3) -> float:
    """fp32 step time / bf16-autocast + channels_last step time of ``model`` (forward, L1, backward) on
    a random ``batch`` x 3 x ``patch`` x ``patch`` input: one warm-up each, then ``runs`` alternating
    rounds, best time of each. Works on copies with a private generator: the model, its gradients and
    the global RNG are untouched."""
    x = torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(0))
    variants = {}
    for name in ("fp32", "bf16"):
        net = copy.deepcopy(model).cpu().float().train()
        if name == "bf16":
            variants[name] = (net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last),
                              lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        else:
            variants[name] = (net, x, contextlib.nullcontext)

    def step(name: str) -> float:
        net, inp, cast = variants[name]
        start = time.perf_counter()
        with cast():
            out = net(inp)
        out.float().abs().mean().backward()
        return time.perf_counter() - start

    for name in variants:
        step(name)  # warm-up, not counted
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(runs):
        for name in variants:
            best[name] = min(best[name], step(name))
    return best["fp32"] / best["bf16"]


def resolve_precision(choice: str, device: torch.device, *, measure: Callable[[], float] | None = None) -> Precision:
    """``auto``: bf16 on CUDA GPUs with bf16 units (``gpu_has_bf16``: not emulated); on CPUs with
    AMX-BF16 or AVX512-BF16, bf16 when ``measure()`` (the student's bf16 speed-up, see
    ``measure_cpu_speedup``) is at least ``MIN_CPU_SPEEDUP`` (without ``measure``, on the flags
    alone); else fp32. The reason says which."""
    if choice == "fp32":
        return Precision("fp32", False, "asked for")
    if choice == "bf16" and device.type == "cpu" and cpu_flags() and not cpu_bf16_units():  # x86 flags known, no units
        return Precision("bf16", True, f"asked for; {EMULATED_BF16}", emulated=True)
    if choice in ("bf16", "fp16"):
        return Precision(choice, device.type == "cpu", "asked for")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if gpu_has_bf16():
            return Precision("bf16", True, f"auto: {name} has bf16 units")
        return Precision("fp32", False, f"auto: {name} has no bf16 units (bf16 there would be emulated, slower than fp32)")
    fast = cpu_bf16_units()
    if fast and measure is None:
        return Precision("bf16", True, f"auto: CPU has {', '.join(fast)}")
    if fast:
        speedup = measure()
        measured = f"CPU has {', '.join(fast)}; a bf16 + channels_last step of this student measured {speedup:.2f}x fp32's"
        if speedup >= MIN_CPU_SPEEDUP:
            return Precision("bf16", True, f"auto: {measured}")
        return Precision("fp32", False, f"auto: {measured} (< {MIN_CPU_SPEEDUP}x), so fp32")
    return Precision("fp32", False, "auto: CPU has no bf16 instructions (amx_bf16/avx512_bf16)")


def precision_for_run(choice: str, device: torch.device, *, saved: dict | None,
                      measure: Callable[[], float] | None = None) -> Precision:
    """``resolve_precision`` for a run; a resumed run (``saved``: its resume checkpoint) started with
    ``auto`` keeps the precision it chose then."""
    if choice == "auto" and isinstance((saved or {}).get("precision"), str):
        chosen = resolve_precision(saved["precision"], device)
        return dataclasses.replace(chosen, reason="auto, as chosen when the run started (kept on resume)")
    return resolve_precision(choice, device, measure=measure)
