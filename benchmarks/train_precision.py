"""bf16 (autocast + channels_last) vs fp32 training on CPU, side by side in one run.

Trains the same student from the same seed on the same batches with both precisions and prints
sec/step, the speed ratio, the data-wait share, the validation PSNR each reaches, and the two loss
curves side by side (a table of windowed means; ``--curves FILE.png`` also plots them).

    python benchmarks/train_precision.py --data ../shared/data/train --val ../shared/data/bench/Set5 --steps 300 \
        --curves benchmarks/train_precision.png
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from srkd.distill.config import DistillConfig
from srkd.distill.runlog import RunLog
from srkd.distill.trainer import Trainer


def loss_curves(runs: dict[str, Path], *, windows: int) -> tuple[list[int], dict[str, list[float]]]:
    """Per run, the mean logged loss in ``windows`` equal step windows (same windows for every run)."""
    logs = {name: [r for r in RunLog(out / "log.jsonl").records() if "loss" in r] for name, out in runs.items()}
    steps = np.array([r["step"] for r in next(iter(logs.values()))])
    edges = np.linspace(0, steps.max(), windows + 1)
    means: dict[str, list[float]] = {}
    for name, recs in logs.items():
        s = np.array([r["step"] for r in recs])
        loss = np.array([r["loss"] for r in recs])
        means[name] = [float(loss[(s > lo) & (s <= hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:])]
    return [int(e) for e in edges[1:]], means


def plot(runs: dict[str, Path], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, out in runs.items():
        recs = [r for r in RunLog(out / "log.jsonl").records() if "loss" in r]
        ax.plot([r["step"] for r in recs], [r["loss"] for r in recs], label=name, lw=1)
    ax.set_xlabel("step"), ax.set_ylabel("training L1 loss"), ax.set_yscale("log"), ax.legend()
    ax.set_title("fp32 vs bf16 autocast + channels_last (same seed, same batches)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--windows", type=int, default=6, help="loss table rows")
    ap.add_argument("--curves", default=None, help="write the loss curves of both runs to this PNG")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in ("fp32", "bf16"):
            cfg = DistillConfig(method="scratch", student=args.student, data=[args.data], val=args.val, scale=4,
                                steps=args.steps, batch=args.batch, patch=args.patch, lr=5e-4, seed=args.seed,
                                precision=prec, val_every=args.steps, ckpt_every=args.steps, log_every=5,
                                out=f"{tmp}/{prec}")
            res = Trainer(cfg, progress=True).run()
            rows[prec] = res
            print(f"{prec}: {res.sec_per_step:.3f} s/step, data wait {100 * res.data_wait_share:.2f}%, "
                  f"Set5 PSNR after {args.steps} steps: {res.last_psnr:.3f} dB", flush=True)
        ends, means = loss_curves({p: r.out for p, r in rows.items()}, windows=args.windows)
        print("| steps up to | fp32 loss | bf16 loss | bf16 / fp32 |\n|---:|---:|---:|---:|")
        for i, end in enumerate(ends):
            a, b = means["fp32"][i], means["bf16"][i]
            print(f"| {end} | {a:.5f} | {b:.5f} | {b / a:.3f} |")
        if args.curves:
            plot({p: r.out for p, r in rows.items()}, args.curves)
            print(f"loss curves: {args.curves}")
    print(f"bf16 speed-up: {rows['fp32'].sec_per_step / rows['bf16'].sec_per_step:.2f}x; "
          f"PSNR difference bf16 - fp32: {rows['bf16'].last_psnr - rows['fp32'].last_psnr:+.3f} dB")


if __name__ == "__main__":
    main()
