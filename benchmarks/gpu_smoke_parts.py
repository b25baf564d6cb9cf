"""The parts of benchmarks/gpu_smoke.py. Each takes the shared Context and returns a one-line
detail when it passed; it raises Skip(reason) when what it needs is missing here, and anything
else (an assertion, an error) makes it fail."""
from __future__ import annotations

import json
import time

import numpy as np
import torch


class Skip(Exception):
    """The part cannot run here; the reason says what is missing. Never counted as passed."""


def _gb(bundle):
    return {(a["backend"], a["precision"]): a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"]}


def doctor(ctx) -> str:
    r = ctx.doctor
    t, o, trt = r["torch"], r["onnxruntime"], r["tensorrt"]
    gpus = "; ".join(f"GPU {g['index']} {g['name']} sm_{''.join(map(str, g['compute_capability']))} bf16 "
                     f"{'yes' if g['bf16'] else 'no'}" for g in t["gpus"]) or "no CUDA GPU"
    ort = f"ORT {o['version']} {o['providers']}" if o["installed"] else "no ORT"
    return (f"torch {t['version']} ({'CUDA ' + t['cuda_build'] if t['cuda_build'] else 'CPU-only'}); {gpus}; {ort}; "
            f"TensorRT {trt.get('version') or 'none'}")


def torch_cuda_parity(ctx) -> str:
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.export.parity import check_parity
    from srkd.models.checkpoint import load_model

    ctx.need()
    model, spec = load_model(ctx.student)
    out = []
    with TorchRunner(model, spec=spec) as reference:
        for prec in ("fp32", "bf16", "fp16"):
            gpu_model, _ = load_model(ctx.student)
            with TorchRunner(gpu_model, spec=spec, precision=prec, device=ctx.device) as runner:
                p = check_parity(runner, reference, images=ctx.hr, scale=spec.scale)
            assert p.passed, f"{ctx.device} {prec}: {p.summary()}"
            out.append(f"{prec} {p.psnr_vs_ref:.1f} dB")
    return "vs CPU fp32: " + ", ".join(out)


def _distill(ctx, precision: str) -> str:
    from srkd.distill.config import DistillConfig
    from srkd.distill.trainer import Trainer

    ctx.need()
    run = ctx.work / f"run-{precision}"
    cfg = DistillConfig(student="edsr:n_feats=16,n_blocks=2", method="kd", teacher=str(ctx.teacher),
                        data=[str(ctx.photos)], scale=2, steps=30, batch=4, patch=32, precision=precision,
                        out=str(run), val_every=1000, ckpt_every=10, log_every=10, device=ctx.device)
    trainer = Trainer(cfg, progress=False)
    counts = {"steps": 0, "zero": 0, "tensors": 0}

    def count(opt, args, kwargs) -> None:
        grads = [p.grad for p in trainer.student.parameters()]
        counts["steps"] += 1
        counts["tensors"] += len(grads)
        counts["zero"] += sum(int(g is None or not bool(g.any())) for g in grads)

    trainer.opt.register_step_pre_hook(count)
    result = trainer.run()
    trainer.close()
    assert counts["zero"] == 0, f"{counts['zero']} of {counts['tensors']} parameter gradients were all zero"
    ctx.srkd("distill", "--resume", run, "--steps", "40", "--quiet")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["precision"] == result.precision, summary
    skipped = 30 - counts["steps"]
    return (f"{result.precision} ({trainer.prec.reason}); {counts['steps']} optimizer steps, 0 all-zero gradients"
            + (f", {skipped} steps skipped by the loss scaler" if skipped else "") + "; resumed to step 40")


def distill_auto(ctx) -> str:
    return _distill(ctx, "auto")


def distill_fp16(ctx) -> str:
    return _distill(ctx, "fp16")


def _engines(bundle) -> str:
    return "; ".join(f"{a['file']}: {a['engine']['layer_check']['by_precision']}, parity {a['parity']['psnr_vs_ref']}"
                     for a in _gb(bundle).values() if a["backend"] == "tensorrt")


def export_trt_bare(ctx) -> str:
    ctx.need(tensorrt=True)
    out = ctx.work / "trt-bare"
    ctx.srkd("export", ctx.student, "--out", out, "--trt", "--images", "2", "--sizes", "64,128", "--runs", "5")
    assert ("tensorrt", "fp16") in _gb(out), "bare --trt built no fp16 engine"
    return _engines(out)


def export_trt_all(ctx) -> str:
    ctx.need(tensorrt=True)
    out = ctx.work / "trt-all"
    ctx.srkd("export", ctx.student, "--out", out, "--trt", "fp32,fp16,int8", "--images", "2", "--sizes", "64,128",
             "--runs", "5")
    assert {p for b, p in _gb(out) if b == "tensorrt"} == {"fp32", "fp16", "int8"}
    return _engines(out)


def _ort(ctx, kind: str) -> str:
    from srkd.bundle.reader import load_bundle
    from srkd.export.parity import check_parity

    ctx.need(ort=kind)
    bundle = load_bundle(ctx.bundle)
    with bundle.runner(bundle.find(backend="torch")) as reference, \
            bundle.runner(bundle.find(backend="onnxruntime"), device=ctx.device, ort_ep=kind) as runner:
        providers = runner.session.get_providers()
        p = check_parity(runner, reference, images=ctx.hr, scale=bundle.spec.scale)
    assert p.passed, p.summary()
    return f"get_providers() = {providers}; fp32 vs torch CPU {p.psnr_vs_ref:.1f} dB"


def ort_cuda(ctx) -> str:
    return _ort(ctx, "cuda")


def ort_tensorrt(ctx) -> str:
    return _ort(ctx, "tensorrt")


def _cuda_event_ms(ctx, side: int, runs: int = 20) -> tuple[float, float]:
    """p50 of CUDA-event time (the GPU's own) and of wall time host-to-host, torch fp32, side x side."""
    from srkd.models.checkpoint import load_model

    device = torch.device(ctx.device)
    model = load_model(ctx.student)[0].to(device).eval()
    x = torch.rand(1, 3, side, side)
    gpu, wall = [], []
    with torch.inference_mode():
        for i in range(runs + 3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter()
            xd = x.to(device)
            start.record()
            y = model(xd)
            end.record()
            y.cpu()
            torch.cuda.synchronize(device)
            if i >= 3:
                gpu.append(start.elapsed_time(end))
                wall.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(gpu)), float(np.median(wall))


def bench_cuda(ctx) -> str:
    ctx.need()
    out = ctx.srkd("bench", ctx.bundle, "--device", ctx.device, "--sizes", "64,256", "--runs", "20", "--json", "-")
    data = json.loads(out.stdout)
    assert data["host"].get("gpu") or ctx.rehearsal, f"bench recorded no GPU: {data['host']}"
    torch_rows = [r for r in data["results"] if r["backend"] == "torch" and r["size"] == 256]
    assert torch_rows, f"no torch row at 256 px: {data['results']}"
    skipped = f"; skipped: {data['skipped']}" if data.get("skipped") else ""
    bench = f"{data['host'].get('gpu') or 'CPU'}: torch fp32 256 px p50 {torch_rows[0]['p50_ms']:.2f} ms (srkd bench, wall)"
    if ctx.rehearsal:
        return bench + " (no CUDA events on the CPU)" + skipped
    events, wall = _cuda_event_ms(ctx, 256)
    return f"{bench}; CUDA events {events:.2f} ms vs wall {wall:.2f} ms here{skipped}"


def upscale_2k(ctx) -> str:
    import cv2
    from skimage import data as samples

    ctx.need()
    src = ctx.work / "big" / "astronaut-2k.png"
    src.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(src), cv2.resize(samples.astronaut()[:, :, ::-1], (2048, 1536), interpolation=cv2.INTER_CUBIC))
    out = ctx.work / "big-out"
    ctx.srkd("upscale", src, "-m", ctx.bundle, "-o", out, "--device", ctx.device, "--tile", "auto", "--batch", "4")
    made = sorted(out.glob("astronaut-2k*.png"))
    assert made, f"no output in {out}"
    h, w = cv2.imread(str(made[0])).shape[:2]
    assert (w, h) == (4096, 3072), f"output is {w}x{h}, expected 4096x3072"
    report = json.loads((out / "srkd-upscale-report.json").read_text())
    return f"{made[0].name} {w}x{h}; runner {report.get('runner')}, settings {report.get('settings')}"


def self_check(ctx) -> str:
    raise AssertionError("made to fail on purpose: a report that cannot show a failure proves nothing")


PARTS = [("doctor", doctor), ("torch-cuda-parity", torch_cuda_parity), ("distill-auto", distill_auto),
         ("distill-fp16", distill_fp16), ("export-trt-bare", export_trt_bare), ("export-trt-all", export_trt_all),
         ("ort-cuda", ort_cuda), ("ort-tensorrt", ort_tensorrt), ("bench-cuda", bench_cuda), ("upscale-2k", upscale_2k)]
