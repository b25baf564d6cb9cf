"""Why a deep Compact (SRVGGNetCompact) did not train: how much of the input reaches its output at init.

For Compact students of several depths, built with PyTorch's default conv init (what srkd used until
issue 19's table found 64x16 stuck), He init throughout (He for the activation's slope, zero biases, the
last conv x0.1: srkd's first fix, which trained 64x16 but cost 64x8 0.36 dB) and srkd's init (inner
convs the identity plus N(0, 0.01^2) noise, first and last as He's), it prints the input-dependent part
of the residual at init (the std of the residual's difference between two real LR crops), in fp32 and
under bf16 autocast, and how well the bf16 difference follows the fp32 one (correlation: 1 = bf16
keeps the input's signal, 0 = bf16 rounded it away).

    python benchmarks/compact_init.py
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skdata
from torch import nn

from srkd.models import build_model


def default_init(model: nn.Module) -> None:
    """PyTorch's own conv init (kaiming_uniform with a=sqrt(5), uniform biases), as before the fix."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()


def he_init(model: nn.Module) -> None:
    """He for PReLU's 0.25 slope everywhere, zero biases, the last conv x0.1 (srkd's init before the identity)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)
        convs[-1].weight.mul_(0.1)


INITS = {"pytorch default": default_init, "he": he_init, "srkd": lambda model: None}


def residual(model: nn.Module, x: torch.Tensor, *, bf16: bool) -> torch.Tensor:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(x).float()
    return out - F.interpolate(x, scale_factor=model.scale, mode="nearest")


def crops(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    photos = [skdata.astronaut(), skdata.chelsea()]
    t = [torch.from_numpy(np.ascontiguousarray(p[:side, :side].transpose(2, 0, 1))).float()[None] / 255 for p in photos]
    return t[0], t[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--feat", type=int, default=64)
    ap.add_argument("--side", type=int, default=48)
    args = ap.parse_args()
    a, b = crops(args.side)
    print("| convs | init | input's part of the residual, fp32 | bf16 | bf16 vs fp32 correlation |")
    print("|---:|---|---:|---:|---:|")
    for depth in args.depths:
        for init, apply in INITS.items():
            torch.manual_seed(0)
            model = build_model("compact", {"num_feat": args.feat, "num_conv": depth}).eval()
            apply(model)
            d32 = residual(model, a, bf16=False) - residual(model, b, bf16=False)
            d16 = residual(model, a, bf16=True) - residual(model, b, bf16=True)
            corr = float(torch.corrcoef(torch.stack([d32.flatten(), d16.flatten()]))[0, 1])
            print(f"| {depth} | {init} | {float(d32.std()):.2e} | {float(d16.std()):.2e} | {corr:.3f} |")


if __name__ == "__main__":
    main()
