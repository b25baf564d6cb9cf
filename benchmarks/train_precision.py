"""bf16 (autocast + channels_last) vs fp32 training on CPU, side by side in one run.

Trains the same student from the same seed on the same batches with both precisions and prints
sec/step, the speed ratio, the data-wait share and the validation PSNR each reaches.

    python benchmarks/train_precision.py --data ../shared/data/train --val ../shared/data/bench/Set5 --steps 300
"""
from __future__ import annotations

import argparse
import tempfile

from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in ("fp32", "bf16"):
            cfg = DistillConfig(method="scratch", student=args.student, data=[args.data], val=args.val, scale=4,
                                steps=args.steps, batch=args.batch, patch=args.patch, lr=5e-4, seed=args.seed,
                                precision=prec, val_every=args.steps, ckpt_every=args.steps, out=f"{tmp}/{prec}")
            res = Trainer(cfg, progress=True).run()
            rows[prec] = res
            print(f"{prec}: {res.sec_per_step:.3f} s/step, data wait {100 * res.data_wait_share:.2f}%, "
                  f"Set5 PSNR after {args.steps} steps: {res.last_psnr:.3f} dB", flush=True)
    print(f"bf16 speed-up: {rows['fp32'].sec_per_step / rows['bf16'].sec_per_step:.2f}x; "
          f"PSNR difference bf16 - fp32: {rows['bf16'].last_psnr - rows['fp32'].last_psnr:+.3f} dB")


if __name__ == "__main__":
    main()
