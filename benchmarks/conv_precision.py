"""One 64-channel 3x3 conv + activation, forward and backward (batch 16, 32 px: a training step's unit),
in fp32 and under bf16 autocast, contiguous and channels_last, side by side: what bf16 costs on this CPU.

    python benchmarks/conv_precision.py
"""
from __future__ import annotations

import time

import torch

from srkd.distill.precision import cpu_bf16_units
from srkd.host import cpu_model


def best_ms(fn, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    conv, act = torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.PReLU(64)
    x = torch.rand(16, 64, 32, 32)
    print(f"{cpu_model()}; bf16 units: {', '.join(cpu_bf16_units()) or 'none'}; 2 threads")
    print("| layout | fp32 ms | bf16 ms | bf16 / fp32 |\n|---|---:|---:|---:|")
    for layout in (torch.contiguous_format, torch.channels_last):
        xx = x.contiguous(memory_format=layout).requires_grad_()
        c = conv.to(memory_format=layout)
        ms = {}
        for bf16 in (False, True):
            def step() -> None:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    y = act(c(xx))
                y.float().sum().backward()
            ms[bf16] = best_ms(step)
        name = "channels_last" if layout is torch.channels_last else "contiguous"
        print(f"| {name} | {ms[False]:.1f} | {ms[True]:.1f} | {ms[True] / ms[False]:.1f}x |")


if __name__ == "__main__":
    main()
