"""Every CPU backend of one student in one run: speed, fidelity and share of the machine's peak.

Rows: torch fp32 (NCHW), torch fp32 channels_last, torch bf16, ORT fp32, ORT int8, OpenVINO fp32,
OpenVINO bf16, OpenVINO int8, ncnn fp32 and fp16 (fp16 storage), LiteRT fp32, fp16 and int8, all from
one bundle (``--bundle`` reuses one that has a manifest, else one is exported with every CPU artifact;
LiteRT needs the converter, so run it with ``.venv-litert/bin/python``). LiteRT's graph takes one side
(``--litert-size``): its rows are timed at that size only, and shown as ``fixed N px`` at the others. Per LR size: p50 ms, output MP/s, PSNR against the
torch fp32 output, achieved GFLOP/s (convolution FLOPs / p50) and its share of the bf16 and fp32
3x3-conv peaks, which are measured first in the same run with the same threads. Then the
artifact ``--backend auto`` picks against the fastest row at the largest size.

Per size the rows run one after another, each its ``--runs`` calls back to back as in real use
(``--per-call`` interleaves call by call instead; a call right after another runtime's then pays
for its cold caches and sleeping thread pool); ``--rounds`` repeats with the row order rotated and
keeps each row's best p50.

    python benchmarks/cpu_backends.py --student runs/s3216/student_best.safetensors --threads 2 \\
        --sizes 64,128,256 --runs 10 [--bundle DIR] [--images ../shared/data/bench/Set14/HR] \\
        [--rounds 2] [--upscale-dir DIR]

Inputs are LR crops of a real photo (the largest of ``--images``, default scikit-image's):
MATLAB bicubic at x1/scale, or the least downscale that still gives a ``size`` px crop.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from srkd.backends.pytorch.runner import TorchRunner
from srkd.backends.runner import Runner
from srkd.bundle.choose import choose_artifact
from srkd.bundle.reader import Bundle, load_bundle
from srkd.data.imresize import imresize
from srkd.errors import SrkdError
from srkd.export.build import export_bundle
from srkd.export.latency import settle_allocator
from srkd.export.parity import parity_images
from srkd.models.checkpoint import load_model
from srkd.models.repconv import fold_for_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import PEAK_KEYS, conv_flops, measure_peaks  # noqa: E402

ROWS = [("torch", "fp32"), ("torch", "fp32 channels_last"), ("torch", "bf16"), ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"),
        ("ncnn", "fp32"), ("ncnn", "fp16"), ("litert", "fp32"), ("litert", "fp16"), ("litert", "int8")]
REFERENCE = "torch:fp32"


def runtime_conv_peaks(tmp: Path, *, threads: int, channels: int = 128, side: int = 128, layers: int = 8,
                       runs: int = 10) -> dict[str, float]:
    """GFLOP/s of a stack of ``layers`` 3x3 convs (``channels`` wide, ReLU) at ``side`` px on OpenVINO,
    compiled in bf16 and as a QDQ int8 model (ONNX Runtime's quantizer, converted like srkd's int8
    artifact). 128 channels: OpenVINO's int8 kernels measured faster there than at 64 or 32 (1531 vs
    650-860 GFLOP/s), so this is the higher, stricter ceiling for the int8 rows."""
    import dataclasses

    from srkd.export.onnx import export_module
    from srkd.backends.openvino.convert import convert_to_ir
    from srkd.export.quantize import Int8Settings, quantize_int8
    from srkd.backends.openvino.runner import compile_ir

    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(*[m for _ in range(layers)
                                for m in (torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.ReLU())])
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.04)
    x = torch.rand(1, channels, side, side, generator=gen)
    export_module(net.eval(), tmp / "stack.onnx", example=x[:, :, :32, :32], label="conv stack")
    settings = dataclasses.replace(Int8Settings(), images=4, batch=1, symmetric=False)
    quantize_int8(tmp / "stack.onnx", tmp / "stack.int8.onnx", patches=torch.rand(4, channels, 32, 32, generator=gen).numpy(),
                  settings=settings)
    flops = layers * 2 * channels * channels * 9 * side * side
    out = {}
    for key, source, precision in (("openvino_bf16", "stack.onnx", "bf16"), ("openvino_int8", "stack.int8.onnx", "int8")):
        convert_to_ir(tmp / source, tmp / f"{key}.xml")
        request = compile_ir(tmp / f"{key}.xml", precision=precision, threads=threads).create_infer_request()
        arr = x.numpy()
        for _ in range(3):
            request.infer({0: arr})
        best = math.inf
        for _ in range(runs):
            start = time.perf_counter()
            request.infer({0: arr})
            best = min(best, time.perf_counter() - start)
        out[f"conv3x3_{key}"] = flops / best / 1e9
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", required=True, help="student checkpoint the bundle is made from")
    ap.add_argument("--bundle", default=None, help="bundle folder: reused when it has manifest.json, else exported there")
    ap.add_argument("--images", default=None, help="HR photos for the inputs (default: scikit-image's)")
    ap.add_argument("--threads", type=int, default=2, help="threads for torch, ONNX Runtime and OpenVINO alike")
    ap.add_argument("--sizes", default="64,128,256", help="LR sides, comma-separated")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per row and size (per round)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the timing (row order rotated); the best p50 counts")
    ap.add_argument("--per-call", action="store_true", help="interleave call by call instead of row by row")
    ap.add_argument("--peak-seconds", type=float, default=1.0, help="time spent on each peak measurement")
    ap.add_argument("--upscale-dir", default=None, help="also time `srkd upscale` on this folder: auto vs ORT fp32")
    ap.add_argument("--litert-size", type=int, default=128, help="the LR side of the LiteRT graph (timed there only)")
    return ap.parse_args()


def get_bundle(args: argparse.Namespace, tmp: Path, sizes: list[int]) -> Bundle:
    if args.bundle and (Path(args.bundle) / "manifest.json").is_file():
        print(f"bundle: reusing {args.bundle}")
        return load_bundle(args.bundle)
    out = Path(args.bundle) if args.bundle else tmp / "bundle"
    import importlib.util

    litert = importlib.util.find_spec("litert_torch") is not None
    print(f"bundle: exporting {args.student} -> {out} (int8, bf16, openvino, ncnn{', litert' if litert else ''})")
    return export_bundle(args.student, out, int8=True, bf16=True, openvino=True, ncnn=True, litert=litert,
                         litert_side=args.litert_size, latency_sizes=sizes, latency_runs=args.runs,
                         threads=args.threads, overwrite=True)


def make_runners(bundle: Bundle, threads: int) -> tuple[dict[str, Runner], dict[str, str]]:
    """Active runners by row label, and the skipped rows with why."""
    runners: dict[str, Runner] = {}
    skipped: dict[str, str] = {}
    for backend, precision in ROWS:
        label = f"{backend}:{precision}"
        try:
            if precision == "fp32 channels_last":  # its own model copy: channels_last converts in place
                model, spec = load_model(bundle.path / "student.safetensors")
                runner = TorchRunner(fold_for_inference(model), spec=spec, precision="fp32", channels_last=True)
            else:
                runner = bundle.runner(bundle.find(backend=backend, precision=precision), threads=threads)
            runners[label] = runner.activate()
        except SrkdError as exc:
            skipped[label] = str(exc)
    return runners, skipped


def lr_inputs(images: str | None, sizes: list[int], scale: int) -> dict[int, np.ndarray]:
    """Per size, a ``size`` px float32 1x3xHxW [0, 1] crop of the largest photo's bicubic LR."""
    name, hr = max(parity_images(images, limit=None, crop=None), key=lambda p: min(p[1].shape[:2]))
    out = {}
    for size in sizes:
        factor = min(1.0, max(1.0 / scale, size / min(hr.shape[:2])))  # > 1/scale only when the photo is too small
        lr = imresize(hr, scale=factor) if factor != 1.0 else hr
        top, left = (lr.shape[0] - size) // 2, (lr.shape[1] - size) // 2
        crop = lr[top : top + size, left : left + size]
        out[size] = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        print(f"input {size}px: {name} ({hr.shape[1]}x{hr.shape[0]}) at x{factor:.3f}, centre crop")
    return out


def psnr_float(out: np.ndarray, ref: np.ndarray) -> float:
    a, b = np.clip(out, 0, 1).astype(np.float64), np.clip(ref, 0, 1).astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def time_size(runners: dict[str, Runner], x: np.ndarray, *, runs: int, warmup: int, per_call: bool,
              shift: int = 0) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """p50 ms and the output per row. Rows go one after another (order rotated by ``shift``), each with
    its ``runs`` calls back to back as in real use; ``per_call``: one call of each row in turn instead."""
    settle_allocator()
    side = x.shape[-1]
    labels = [label for label, r in runners.items() if r.fixed_side in (None, side)]  # fixed: its side only
    order = [labels[(i + shift) % len(labels)] for i in range(len(labels))]
    outputs = {label: runners[label].infer(x) for label in order}
    times: dict[str, list[float]] = {label: [] for label in order}

    def call(label: str) -> None:
        runners[label].infer(x)
        times[label].append(float(runners[label].last_ms or 0.0))

    for label in order:
        runners[label].warmup(x, runs=warmup)
        for _ in range(0 if per_call else runs):
            call(label)
    for _ in range(runs if per_call else 0):
        for label in order:
            call(label)
    return {k: float(np.median(v)) for k, v in times.items()}, outputs


def print_table(results: dict[int, dict[str, float]], psnrs: dict[int, dict[str, float]], flops: dict[int, int],
                peaks: dict[str, float], skipped: dict[str, str], scale: int, fixed: dict[str, int]) -> None:
    print("\n| size | backend:precision | p50 ms | MP/s | PSNR vs fp32 | GFLOP/s | % of bf16 conv peak | % of fp32 conv peak |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size, p50s in results.items():
        for backend, precision in ROWS:
            label = f"{backend}:{precision}"
            if label in skipped:
                print(f"| {size} | {label} | skipped | | | | | |")
                continue
            if label not in p50s:
                print(f"| {size} | {label} | fixed {fixed.get(label)} px | | | | | |")
                continue
            ms, db = p50s[label], psnrs[size][label]
            mps = (scale * size) ** 2 / 1e6 / (ms / 1e3)
            gflops = flops[size] / (ms / 1e3) / 1e9
            print(f"| {size} | {label} | {ms:.2f} | {mps:.2f} | {'inf' if math.isinf(db) else f'{db:.2f}'} | "
                  f"{gflops:.1f} | {100 * gflops / peaks['conv3x3_bf16']:.1f} | {100 * gflops / peaks['conv3x3_fp32']:.1f} |")
    for label, why in skipped.items():
        print(f"skipped {label}: {why}")


def report_auto(bundle: Bundle, p50s: dict[str, float], size: int) -> float | None:
    """Print the auto pick against the fastest row at ``size``; returns the pick's p50 (None if not timed)."""
    entry = choose_artifact(bundle.artifacts, precision="auto", device=torch.device("cpu"))
    if entry is None:
        print("\nauto: no artifact fits (srkd falls back to torch fp32)")
        return p50s.get(REFERENCE)
    pick = entry.key
    fastest = min(p50s, key=p50s.__getitem__)
    note = "" if any(f"{b}:{p}" == fastest for b, p in ROWS if p != "fp32 channels_last") else " (not a bundle artifact)"
    print(f"\nauto picks {pick} ({entry.file}); fastest row at {size}px: {fastest}{note}, {p50s[fastest]:.2f} ms")
    if pick not in p50s:
        print(f"auto's pick {pick} was not timed here")
        return None
    ratio = p50s[pick] / p50s[fastest]
    print(f"auto {p50s[pick]:.2f} ms vs fastest {p50s[fastest]:.2f} ms: ratio {ratio:.3f}; "
          + ("auto is the fastest" if pick == fastest else f"auto is {ratio:.2f}x slower than {fastest}"))
    return p50s[pick]


def report_int8(bundle: Bundle) -> None:
    for entry in bundle.artifacts:
        par = entry.parity
        if entry.precision == "int8" and par.psnr_vs_hr is not None and par.ref_psnr_vs_hr is not None:
            print(f"{entry.backend}:int8 PSNR vs HR {par.psnr_vs_hr:.3f} dB, fp32 {par.ref_psnr_vs_hr:.3f} dB "
                  f"({par.psnr_vs_hr - par.ref_psnr_vs_hr:+.3f}) on the bundle's parity images")


def compare_upscale(args: argparse.Namespace, bundle: Bundle, tmp: Path, predicted: float | None) -> None:
    """The real CLI, auto vs ORT fp32, alternating, best of two each: wall time of the process and the
    batch time its report records (reading, inference and writing, without start-up)."""
    import json

    cmds = {"auto": ["--backend", "auto"], "ort_fp32": ["--backend", "onnxruntime", "--precision", "fp32"]}
    wall, batch = dict.fromkeys(cmds, math.inf), dict.fromkeys(cmds, math.inf)
    runner = {}
    for _ in range(2):
        for key, flags in cmds.items():
            report = tmp / f"{key}.json"
            cmd = ["srkd", "upscale", args.upscale_dir, "-m", str(bundle.path), *flags, "--out", str(tmp / key),
                   "--overwrite", "--no-progress", "--threads", str(args.threads), "--report", str(report)]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            wall[key] = min(wall[key], time.perf_counter() - start)
            rep = json.loads(report.read_text())
            batch[key], runner[key] = min(batch[key], rep["seconds"]), rep["runner"]
    told = f"{predicted:.3f}" if predicted else "n/a"
    count = len(list(Path(args.upscale_dir).iterdir()))
    print(f"\nsrkd upscale {args.upscale_dir} ({count} files): auto ({runner['auto']}) batch {batch['auto']:.2f} s, "
          f"wall {wall['auto']:.2f} s; ORT fp32 batch {batch['ort_fp32']:.2f} s, wall {wall['ort_fp32']:.2f} s")
    print(f"ORT-fp32 / auto: batch {batch['ort_fp32'] / batch['auto']:.3f}, wall {wall['ort_fp32'] / wall['auto']:.3f} "
          f"(table predicts {told})")


def main() -> None:
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        bundle = get_bundle(args, tmp, sizes)
        model, spec = load_model(bundle.path / "student.safetensors")
        model = fold_for_inference(model)  # FLOPs of the network every artifact runs
        peaks = measure_peaks(threads=args.threads, seconds=args.peak_seconds)
        print(f"peaks with {args.threads} threads (GFLOP/s): " + ", ".join(f"{k} {peaks[k]:.1f}" for k in PEAK_KEYS))
        runtime: dict[str, float] = {}
        try:
            runtime = runtime_conv_peaks(tmp, threads=args.threads)
            print("3x3 conv stack (128 ch, 128 px, 8 layers + ReLU) on OpenVINO (GFLOP/s): "
                  + ", ".join(f"{k} {v:.1f} ({100 * v / peaks['conv3x3_bf16']:.0f} % of torch's bf16 conv)"
                              for k, v in runtime.items()))
        except SrkdError as exc:
            print(f"OpenVINO conv peaks skipped: {exc}")
        flops = {s: conv_flops(model, height=s, width=s, channels=spec.in_channels) for s in sizes}
        inputs = lr_inputs(args.images, sizes, spec.scale)
        runners, skipped = make_runners(bundle, args.threads)
        results: dict[int, dict[str, float]] = {}
        psnrs: dict[int, dict[str, float]] = {}
        try:
            for size in sizes:
                for i in range(args.rounds):
                    p50s, outs = time_size(runners, inputs[size], runs=args.runs, warmup=args.warmup,
                                           per_call=args.per_call, shift=i)
                    results[size] = {k: min(v, results.get(size, {}).get(k, math.inf)) for k, v in p50s.items()}
                psnrs[size] = {k: psnr_float(o, outs[REFERENCE]) for k, o in outs.items()}
        finally:
            for r in runners.values():
                r.deactivate()
        print(f"\n{spec.arch} x{spec.scale}, {flops[sizes[-1]] / 1e9:.2f} GFLOP at {sizes[-1]}px; threads {args.threads}; "
              f"p50 of {args.runs} runs ({'interleaved call by call' if args.per_call else 'back to back per row'}), "
              f"best of {args.rounds} round(s)")
        fixed = {label: r.fixed_side for label, r in runners.items() if r.fixed_side is not None}
        print_table(results, psnrs, flops, peaks, skipped, spec.scale, fixed)
        big = sizes[-1]
        for label, peak_key in (("openvino:int8", "conv3x3_openvino_int8"), ("openvino:bf16", "conv3x3_openvino_bf16")):
            if label in results[big] and peak_key in runtime:
                gflops = flops[big] / (results[big][label] / 1e3) / 1e9
                print(f"{label} at {big}px: {gflops:.1f} GFLOP/s = {100 * gflops / runtime[peak_key]:.1f} % of OpenVINO's "
                      f"own conv stack in that precision ({runtime[peak_key]:.1f})")
        common = [s for s in sizes if all(label in results[s] for label in runners)]
        at = max(common) if common else sizes[-1]  # srkd's auto compares at the largest size all rows ran
        auto_ms = report_auto(bundle, results[at], at)
        report_int8(bundle)
        if args.upscale_dir:
            ort = results[at].get("onnxruntime:fp32")
            compare_upscale(args, bundle, tmp, ort / auto_ms if ort and auto_ms else None)


if __name__ == "__main__":
    main()
