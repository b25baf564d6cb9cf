"""CPU backends side by side in one run: ORT fp32 / torch fp32, ORT int8 / ORT fp32, torch bf16 / torch fp32.

Exports the student into a bundle (fp32 ONNX, int8 QDQ ONNX, torch bf16), then times every runner
at each size in interleaved rounds (one call each per round, so drift on a shared machine hits all
alike) with the same thread count, and scores each on real images (PSNR vs HR, Y channel, and vs
the torch fp32 output). torch fp32 with channels_last is timed too, as a second torch reference.

    python benchmarks/backends.py --student srkd-demo/run/student_best.safetensors \\
        --data ../shared/data/bench/Set5 --sizes 64,128,256 --runs 30 --threads 4

``--student`` defaults to a seeded, untrained EDSR 32x4 x4 (timings valid, PSNR meaningless).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from srkd.backends.pytorch.runner import TorchRunner
from srkd.export.build import export_bundle
from srkd.export.latency import settle_allocator
from srkd.export.parity import check_parity, parity_images
from srkd.models import build_model
from srkd.models.checkpoint import load_model, save_model


def _student(path: str | None, tmp: Path) -> Path:
    if path:
        return Path(path)
    torch.manual_seed(0)
    out = tmp / "edsr32x4.safetensors"
    save_model(out, build_model("edsr", {"scale": 4, "n_feats": 32, "n_blocks": 4}), provenance={"method": "untrained"})
    print("no --student: an untrained EDSR 32x4 (latency ratios valid, PSNR figures meaningless)")
    return out


def _interleaved_p50(runners: dict, *, side: int, runs: int, warmup: int) -> dict[str, float]:
    settle_allocator()  # glibc's steady state, see srkd.export.latency
    x = np.random.default_rng(0).random((1, 3, side, side), dtype=np.float32)
    for r in runners.values():
        r.warmup(x, runs=warmup)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(runs):
        for key, r in runners.items():
            r.infer(x)
            times[key].append(r.last_ms)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default=None, help="student checkpoint (default: untrained EDSR 32x4 x4)")
    ap.add_argument("--data", default=None, help="HR images for PSNR (default: scikit-image photos)")
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and ONNX Runtime alike")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        student = _student(args.student, Path(tmp))
        bundle = export_bundle(student, Path(tmp) / "bundle", int8=True, bf16=True, images=2, crop=128,
                               latency_sizes=(16,), latency_runs=1, threads=args.threads)
        int8 = bundle.find(backend="onnxruntime", precision="int8").quantization
        print(f"int8 recipe: {int8.attempts[-1].recipe}; calibration: {int8.calibration.source}")
        model, spec = load_model(bundle.path / "student.safetensors")
        runners = {
            "torch fp32": bundle.runner(bundle.find(backend="torch")),
            "torch fp32 cl": TorchRunner(model, spec=spec, channels_last=True),
            "ORT fp32": bundle.runner(bundle.find(backend="onnxruntime"), threads=args.threads),
            "ORT int8": bundle.runner(bundle.find(backend="onnxruntime", precision="int8"), threads=args.threads),
            "torch bf16": bundle.runner(bundle.find(backend="torch", precision="bf16")),
        }
        for r in runners.values():
            r.activate()
        hr = [img for _, img in parity_images(args.data, limit=args.images, crop=None)]
        scores = {k: check_parity(r, runners["torch fp32"], images=hr, scale=spec.scale,
                                  precision="fp32" if k.startswith("torch fp32") else None) for k, r in runners.items()}
        timing = {side: _interleaved_p50(runners, side=side, runs=args.runs, warmup=args.warmup) for side in sizes}
    pairs = [("ORT fp32", "torch fp32"), ("ORT int8", "ORT fp32"), ("torch bf16", "torch fp32"), ("torch fp32 cl", "torch fp32")]
    print(f"\nCPU threads {args.threads}; p50 ms over {args.runs} interleaved rounds; ratio < 1 means faster")
    print(f"{'size':>5} " + " ".join(f"{k:>13}" for k in runners) + "  " + " ".join(f"{a + ' / ' + b:>26}" for a, b in pairs))
    for side, t in timing.items():
        print(f"{side:>5} " + " ".join(f"{t[k]:>13.2f}" for k in runners) + "  "
              + " ".join(f"{t[a] / t[b]:>26.3f}" for a, b in pairs))
    print(f"\nPSNR on {len(hr)} images ({args.data or 'scikit-image photos'}), Y channel, crop_border {spec.scale}:")
    for key, p in scores.items():
        vs_ref = "identical" if p.psnr_vs_ref == float("inf") else f"{p.psnr_vs_ref:.2f} dB"
        print(f"  {key:<14} vs HR {p.psnr_vs_hr:.3f} dB (fp32 {p.ref_psnr_vs_hr:.3f}, {p.psnr_vs_hr - p.ref_psnr_vs_hr:+.3f}); "
              f"vs torch fp32 {vs_ref}")
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": args.threads, "p50_ms": {str(s): t for s, t in timing.items()},
                                               "psnr": {k: p.to_dict() for k, p in scores.items()}}, indent=2))


if __name__ == "__main__":
    main()
