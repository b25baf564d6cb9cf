"""OpenVINO int8, two ways, side by side: the IR of srkd's QDQ ONNX vs NNCF post-training quantization.

Both are calibrated on the same 32 LR patches (64 px) from the training photos; both are timed with
the same threads on the same input, and scored against HR on the bundle's parity photos (PSNR on Y,
crop = scale) next to the fp32 IR. NNCF is not a dependency of srkd; install it to run this:
``pip install nncf``.

    python benchmarks/openvino_int8.py --bundle runs/bench-cpu --calib ../shared/data/train --threads 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from srkd.backends.openvino.runner import OpenVinoRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.bundle.reader import load_bundle
from srkd.export.calib import calibration_patches, find_calib_source
from srkd.export.parity import check_parity, parity_images
from srkd.models.checkpoint import load_model


def nncf_ir(fp32_xml: Path, out: Path, patches: np.ndarray) -> Path:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_xml))
    data = nncf.Dataset([p[None] for p in patches])
    quantized = nncf.quantize(model, data, subset_size=len(patches), preset=nncf.QuantizationPreset.PERFORMANCE)
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return out


def p50(runner: OpenVinoRunner, x: np.ndarray, runs: int) -> float:
    runner.warmup(x, runs=3)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.infer(x)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True, help="a bundle made with --openvino --int8 (or --cpu)")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    spec = bundle.spec
    photos = [img for _, img in parity_images(None, limit=3, crop=256)]
    patches = calibration_patches(find_calib_source(args.calib, meta={}), count=32, patch=64, scale=spec.scale)
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        nncf_xml = nncf_ir(bundle.path / "model.xml", Path(tmp) / "nncf.xml", patches)
        print(f"NNCF quantization: {time.perf_counter() - start:.1f} s")
        model, _ = load_model(bundle.path / "student.safetensors")
        rows = [("openvino fp32 IR", bundle.path / "model.xml", "fp32"),
                ("QDQ ONNX -> IR (srkd)", bundle.path / "model.int8.xml", "int8"),
                ("NNCF PTQ of the fp32 IR", nncf_xml, "int8")]
        with TorchRunner(model, spec=spec) as ref:
            for label, path, prec in rows:
                with OpenVinoRunner(path, spec=spec, precision=prec, threads=args.threads) as runner:
                    ms = p50(runner, x, args.runs)
                    par = check_parity(runner, ref, images=photos, scale=spec.scale)
                print(f"| {label} | {ms:.2f} ms | {par.psnr_vs_hr:.3f} dB ({par.psnr_vs_hr - par.ref_psnr_vs_hr:+.3f}) "
                      f"| {par.psnr_vs_ref:.2f} dB |")


if __name__ == "__main__":
    main()
