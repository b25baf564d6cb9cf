"""scratch / kd / augkd / mipkd students at an equal step budget, several seeds, from one teacher.

Prints mean and spread of Set5/Set14 x4 PSNR per method, and each method's step time relative
to kd measured in the same run (same data, threads, precision).

    python benchmarks/kd_methods.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train \\
        --bench ../shared/data/bench --steps 2000 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer
from srkd.evaluate import evaluate
from srkd.models.checkpoint import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--bench", required=True, help="folder holding Set5/ and Set14/")
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--methods", nargs="+", default=["scratch", "kd", "augkd", "mipkd"])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    scores: dict[str, dict[str, list[float]]] = {m: {"Set5": [], "Set14": []} for m in args.methods}
    step_s: dict[str, list[float]] = {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for method in args.methods:  # interleaved, so machine noise hits every method alike
                cfg = DistillConfig(teacher=None if method == "scratch" else args.teacher, student=args.student,
                                    method=method, data=[args.data], scale=4, steps=args.steps, batch=args.batch,
                                    patch=args.patch, seed=seed, threads=args.threads, val_every=args.steps,
                                    ckpt_every=args.steps, out=f"{tmp}/{method}-{seed}")
                trainer = Trainer(cfg, progress=True)
                res = trainer.run()
                step_s[method].append(res.sec_per_step)
                model, _ = load_model(Path(cfg.out) / "student_best.safetensors")
                for name in ("Set5", "Set14"):
                    scores[method][name].append(evaluate(model, data=Path(args.bench) / name, scale=4).psnr)
                print(f"seed {seed} {method:8s} Set5 {scores[method]['Set5'][-1]:.3f}  Set14 "
                      f"{scores[method]['Set14'][-1]:.3f}  {res.sec_per_step:.3f} s/step", flush=True)
    kd_step = statistics.mean(step_s["kd"]) if "kd" in step_s else None
    print(f"\n{args.steps} steps, batch {args.batch}, LR patch {args.patch}, student {args.student}, "
          f"teacher {args.teacher}, seeds {args.seeds}")
    print("| method | Set5 PSNR (mean ± sd) | Set14 PSNR (mean ± sd) | step time / kd |")
    print("|---|---|---|---|")
    for m in args.methods:
        cells = []
        for name in ("Set5", "Set14"):
            v = scores[m][name]
            cells.append(f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}")
        ratio = f"{statistics.mean(step_s[m]) / kd_step:.2f}x" if kd_step else "-"
        print(f"| {m} | {cells[0]} | {cells[1]} | {ratio} |")


if __name__ == "__main__":
    main()
