"""INT8 recipes side by side: PSNR drop against fp32 on real images, calibration time, and speed.

What chose ``srkd.export.int8.DEFAULT_INT8`` (results in docs/deploy.md, "INT8 settings"). Each
recipe quantizes the same fp32 ONNX, calibrated on LR patches from the student's training data,
and is scored on --data (PSNR vs HR, Y, crop_border = scale); speed is ORT int8 / ORT fp32 p50 at
one size, timed in interleaved rounds with one thread.

    python benchmarks/int8_settings.py STUDENT --data ../shared/data/bench/Set5 ../shared/data/bench/Set14
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.export.calib import calibration_patches, find_calib_source
from srkd.export.int8 import DEFAULT_INT8
from srkd.export.latency import settle_allocator
from srkd.export.onnx import export_onnx
from srkd.export.parity import check_parity, parity_images
from srkd.export.quantize import quantize_int8
from srkd.models.checkpoint import load_model, read_metadata

D = DEFAULT_INT8
RECIPES = [
    D, dataclasses.replace(D, symmetric=True), dataclasses.replace(D, per_channel=False),
    dataclasses.replace(D, keep_fp32="ends"), dataclasses.replace(D, images=8), dataclasses.replace(D, images=128),
    dataclasses.replace(D, patch=32), dataclasses.replace(D, patch=64),
    dataclasses.replace(D, calibration="entropy"), dataclasses.replace(D, calibration="percentile"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("student")
    ap.add_argument("--data", nargs="+", required=True, help="HR folders to score on")
    ap.add_argument("--calib", default=None, help="calibration photos (default: the student's training data)")
    ap.add_argument("--size", type=int, default=128, help="LR side for the speed ratio")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    model, spec = load_model(args.student)
    source = find_calib_source(args.calib, meta=read_metadata(args.student), student=Path(args.student))
    hr = [img for folder in args.data for _, img in parity_images(folder, limit=None, crop=None)]
    print(f"{args.student}: {spec.arch} {spec.hparams.get('n_feats')}x{spec.hparams.get('n_blocks')} x{spec.scale}; "
          f"calibration from {source.label} ({source.kind}); scored on {len(hr)} images")
    settle_allocator()  # glibc's steady state, see srkd.export.latency
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, Path(tmp) / "fp32.onnx")
        _sweep(Path(tmp), model, spec, source, hr, x, args.runs)


def _sweep(tmp: Path, model, spec, source, hr, x, runs: int) -> None:
    with TorchRunner(model, spec=spec) as ref, OrtRunner(tmp / "fp32.onnx", spec=spec, threads=1) as fp32:
        fp32.warmup(x)
        for recipe in RECIPES:
            patches = calibration_patches(source, count=recipe.images, patch=recipe.patch, scale=spec.scale)
            start = time.perf_counter()
            quantize_int8(tmp / "fp32.onnx", tmp / "q.onnx", patches=patches, settings=recipe)
            seconds = time.perf_counter() - start
            with OrtRunner(tmp / "q.onnx", spec=spec, precision="int8", threads=1) as q:
                p = check_parity(q, ref, images=hr, scale=spec.scale)
                q.warmup(x)
                t_q, t_f = [], []
                for _ in range(runs):  # interleaved, so load changes hit both
                    q.infer(x)
                    t_q.append(q.last_ms)
                    fp32.infer(x)
                    t_f.append(fp32.last_ms)
            print(f"{recipe.label():<80} drop {p.ref_psnr_vs_hr - p.psnr_vs_hr:6.3f} dB (fp32 {p.ref_psnr_vs_hr:.3f}), "
                  f"vs fp32 {p.psnr_vs_ref:5.1f} dB, calib {seconds:5.1f} s, int8/fp32 {np.median(t_q) / np.median(t_f):.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
