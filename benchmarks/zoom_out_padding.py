"""What padding AugKD's zoom-out samples costs: teacher labels with and without padding, same samples.

AugKD's zoom-out samples are LR patch / scale px (8 px at patch 32, x4). A teacher with a minimum input
side (RFDN: 15 px) gets them padded as inference pads (bottom/right, reflect, replicate beyond), run and
cropped. On a teacher that needs no padding this prints the PSNR between padded and unpadded labels of
the same samples (RGB, [0, 1], whole 32 px label and its top-left interior away from the padded edges).

    python benchmarks/zoom_out_padding.py --teacher edsr-x4 --data ../shared/data/train --pad-to 15
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from srkd.data.dataset import HRFolderDataset
from srkd.distill.augment import zoom_out
from srkd.models.padding import forward_padded
from srkd.models.resolve import resolve_model
from srkd.models.spec import SizeReq


def psnr01(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", default="edsr-x4")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--pad-to", type=int, default=15)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    model, _ = resolve_model(args.teacher, scale=4)
    model.eval()
    s = int(model.scale)
    data = HRFolderDataset(args.data, scale=s, patch=args.patch)
    rng = np.random.default_rng(0)
    whole, interior = [], []
    with torch.inference_mode():
        for _ in range(args.batches):
            lq, _ = data.sample(rng, args.batch)
            x = zoom_out(lq, scale=s)
            plain = model(x)
            padded = forward_padded(model, x, req=SizeReq(minimum=args.pad_to), scale=s)
            whole.append(psnr01(plain, padded))
            half = plain.shape[-1] // 2
            interior.append(psnr01(plain[..., :half, :half], padded[..., :half, :half]))
    side = x.shape[-1]
    print(f"teacher {args.teacher}, zoom-out samples {side} px padded to {max(side, args.pad_to)} px "
          f"({args.batches} x {args.batch} samples)")
    print(f"PSNR padded vs unpadded labels: whole {np.mean(whole):.2f} dB (min {np.min(whole):.2f}), "
          f"top-left quarter {np.mean(interior):.2f} dB")


if __name__ == "__main__":
    main()
