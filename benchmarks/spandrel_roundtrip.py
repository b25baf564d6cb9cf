"""Load an ``srkd export --spandrel`` file with spandrel itself and compare its output with srkd's
student on a real photo (run in the spandrel environment, ``.venv-spandrel``):

    srkd export STUDENT.safetensors --out BUNDLE --spandrel
    .venv-spandrel/bin/python benchmarks/spandrel_roundtrip.py STUDENT.safetensors BUNDLE/compact_x4.pth
"""
from __future__ import annotations

import argparse

import numpy as np
import spandrel
import torch
from skimage import data

from srkd.models.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("student", help="srkd student file")
    ap.add_argument("pth", help="the file srkd export --spandrel wrote")
    args = ap.parse_args()
    x = torch.from_numpy(np.ascontiguousarray(data.astronaut()[100:228, 100:228].transpose(2, 0, 1))).float()[None] / 255
    ours, _ = load_model(args.student)
    desc = spandrel.ModelLoader().load_from_file(args.pth)
    with torch.no_grad():
        a, b = ours.eval()(x), desc.model.eval()(x)
    mse = float(((a - b) ** 2).mean())
    psnr = "identical" if mse == 0 else f"{10 * np.log10(1 / mse):.1f} dB"
    print(f"{args.pth}: spandrel {desc.architecture.name} x{desc.scale}; against srkd on a 128-px astronaut crop, "
          f"fp32: {psnr} (max abs diff {float((a - b).abs().max()):.1e})")


if __name__ == "__main__":
    main()
