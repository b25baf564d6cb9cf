"""Every GPU path of srkd end to end on a small student, in about five minutes, as one pass/fail table.

    python benchmarks/gpu_smoke.py [--json gpu-smoke.json] [--self-check] [--strict] [--budget 300]

Parts: doctor; torch CUDA fp32/bf16/fp16 parity against the CPU's fp32; 30 steps of distillation
on CUDA with --precision auto and fp16 (counting all-zero gradients), each resumed with
`srkd distill --resume`; `srkd export --trt` (bare) and `--trt fp32,fp16,int8` with the engine
inspector's layer precisions; ONNX Runtime's CUDA and TensorRT providers (get_providers() shown);
`srkd bench --device cuda` with CUDA-event timing beside wall timing; `srkd upscale` of a 2k image
with `--device cuda --tile auto --batch 4`.

A part whose library or GPU is missing is SKIPPED with the reason; a skipped part never counts as
passed. `--self-check` adds a part made to fail, to show that the report can fail. The exit code is
1 when a part failed (with `--strict`, also when one was skipped). Run from the repository root
(`PYTHONPATH=.` when srkd is not installed); see README, "On a GPU", for reporting the result.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from gpu_smoke_parts import PARTS, Skip, self_check  # noqa: E402
from srkd import __version__  # noqa: E402


class Context:
    """What the parts share: a work folder, a student, a bundle and photos made on first use, and
    the doctor's report (for the reasons a part is skipped)."""

    def __init__(self, work: Path, deadline: float, *, rehearsal: bool = False) -> None:
        from srkd.doctor import machine_report

        self.work, self.deadline, self.rehearsal = work, deadline, rehearsal
        self.device = "cpu" if rehearsal else "cuda"
        self.doctor = machine_report()
        self._student = self._bundle = self._photos = None

    def need(self, *, tensorrt: bool = False, ort: str | None = None) -> None:
        """Skip the part, naming everything missing: a CUDA GPU, TensorRT, an ONNX Runtime provider."""
        from srkd.backends.onnxruntime.runner import available_kinds

        t, trt, missing = self.doctor["torch"], self.doctor["tensorrt"], []
        if not t["cuda_available"] and not self.rehearsal:
            missing.append(f"no CUDA GPU (torch {t['version']}: {t['why']})")
        if tensorrt and not trt["installed"]:
            missing.append(f"TensorRT: {trt['why']}")
        if ort and ort not in available_kinds():
            missing.append(f"this onnxruntime has no {ort} provider (has: {', '.join(available_kinds()) or 'none'}; "
                           "GPUs: onnxruntime-gpu, installed alone)")
        if missing:
            raise Skip("; ".join(missing))

    def srkd(self, *args, timeout: float = 240) -> subprocess.CompletedProcess:
        """Run the real CLI; an exit code other than 0 fails the part with srkd's own error line."""
        left = self.deadline - time.monotonic()
        if left < 10:
            raise Skip("not run: the time budget is spent")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, "-m", "srkd", *map(str, args)], capture_output=True, text=True,
                             env=env, timeout=min(timeout, left))
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            raise AssertionError(f"srkd {args[0]} exited {out.returncode}: {last[:300]}")
        return out

    @property
    def student(self) -> Path:
        if self._student is None:
            from srkd.models import build_model
            from srkd.models.checkpoint import save_model

            torch.manual_seed(0)
            self._student = self.work / "student.safetensors"
            save_model(self._student, build_model("edsr", {"scale": 2, "n_feats": 16, "n_blocks": 2}),
                       provenance={"method": "gpu smoke (seeded, untrained)"})
        return self._student

    @property
    def teacher(self) -> Path:
        from srkd.models import build_model
        from srkd.models.checkpoint import save_model

        path = self.work / "teacher.safetensors"
        if not path.exists():
            torch.manual_seed(1)
            save_model(path, build_model("edsr", {"scale": 2, "n_feats": 32, "n_blocks": 2}))
        return path

    @property
    def photos(self) -> Path:
        if self._photos is None:
            from skimage import data

            from srkd.data.io import write_image

            self._photos = self.work / "hr"
            for name in ("astronaut", "coffee", "chelsea", "rocket"):
                write_image(self._photos / f"{name}.png", getattr(data, name)()[:256, :256])
        return self._photos

    @property
    def hr(self) -> list:
        from srkd.export.parity import parity_images

        return [img for _, img in parity_images(None, limit=3, crop=256)]

    @property
    def bundle(self) -> Path:
        if self._bundle is None:
            from srkd.export.build import export_bundle

            self._bundle = export_bundle(self.student, self.work / "bundle", images=2, latency_sizes=(64,),
                                         latency_runs=3).path
        return self._bundle


def run_parts(ctx: Context, parts) -> list[dict]:
    rows = []
    for name, fn in parts:
        start = time.monotonic()
        try:
            if time.monotonic() > ctx.deadline:
                raise Skip("not run: the time budget is spent")
            status, detail = ("REHEARSED" if ctx.rehearsal and name != "doctor" else "PASS"), fn(ctx)
        except Skip as why:
            status, detail = "SKIPPED", str(why)
        except Exception as exc:  # noqa: BLE001 - any error is this part's failure, reported in the table
            lines = str(exc).strip().splitlines()
            status, detail = "FAIL", f"{type(exc).__name__}: {lines[0] if lines else ''}"[:400]
        rows.append({"part": name, "status": status, "seconds": round(time.monotonic() - start, 1), "detail": detail})
        print(f"  {name:<18} {status:<8} {rows[-1]['seconds']:>6.1f}s  {detail}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the table and the doctor report as JSON here")
    ap.add_argument("--self-check", action="store_true", help="add a part made to fail (the report must show FAIL)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when any part was skipped, too")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds for all parts; later parts are skipped after")
    ap.add_argument("--work", type=Path, default=None, help="keep the work files here (default: a temp folder)")
    ap.add_argument("--rehearse-on-cpu", action="store_true",
                    help="for developing this script: run the CUDA parts on the CPU; they show REHEARSED, never PASS")
    args = ap.parse_args()
    parts = PARTS + ([("self-check", self_check)] if args.self_check else [])
    with tempfile.TemporaryDirectory(prefix="srkd-gpu-smoke-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(work, time.monotonic() + args.budget, rehearsal=args.rehearse_on_cpu)
        gpus = ", ".join(g["name"] for g in ctx.doctor["torch"]["gpus"]) or "no CUDA GPU"
        print(f"srkd {__version__} GPU smoke on {gpus}; torch {torch.__version__}; budget {args.budget:.0f} s")
        print(f"  {'part':<18} {'result':<8} {'time':>7}  detail")
        rows = run_parts(ctx, parts)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("PASS", "FAIL", "SKIPPED", "REHEARSED")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIPPED']} skipped "
          "(a skipped part did not run and is not a pass)"
          + (f", {counts['REHEARSED']} rehearsed on the CPU (not GPU results)" if counts["REHEARSED"] else ""))
    if args.json:
        args.json.write_text(json.dumps({"srkd": __version__, "parts": rows, "counts": counts, "doctor": ctx.doctor},
                                        indent=2, default=str) + "\n")
    return 1 if counts["FAIL"] or (args.strict and counts["SKIPPED"]) else 0


if __name__ == "__main__":
    sys.exit(main())
