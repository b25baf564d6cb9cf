"""What bf16 costs on this CPU: the trainer's own start-up measurement (``measure_cpu_speedup``: forward,
L1 and backward in fp32 vs bf16 autocast + channels_last, best of 3 alternating rounds) for a few students
at the training settings (batch 16, LR patch 32, 2 threads), printed as the bf16 / fp32 step-time ratio.

    python benchmarks/conv_precision.py
"""
from __future__ import annotations

import argparse

import torch

from srkd.distill.precision import cpu_bf16_units, measure_cpu_speedup
from srkd.host import cpu_model
from srkd.models import build_model, parse_arch_string

STUDENTS = ("edsr:n_feats=32,n_blocks=8", "compact:num_feat=64,num_conv=8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", nargs="+", default=list(STUDENTS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"{cpu_model()}; bf16 units: {', '.join(cpu_bf16_units()) or 'none'}; 2 threads, batch {args.batch}, "
          f"LR patch {args.patch}")
    print("| student | bf16 / fp32 step time |\n|---|---:|")
    for spec in args.students:
        arch, hparams = parse_arch_string(spec)
        torch.manual_seed(0)
        model = build_model(arch, {"scale": 4, **hparams})
        print(f"| {spec} | {1 / measure_cpu_speedup(model, batch=args.batch, patch=args.patch):.1f}x |")


if __name__ == "__main__":
    main()
