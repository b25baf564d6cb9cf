"""Which loss term steers the student: each term's weighted gradient norm on the student's weights.

Trains a short run per method (same seed, data and settings as the KD comparison) with
``term_grads_every`` on, then prints, per method and term, the median of ``lambda * ||dL_term/dW_student||``
over the first and the second half of the run, and the term's share of the sum of all terms' norms.
Gradient norms do not depend on the machine's load.

    python benchmarks/kd_terms.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train \\
        --steps 300 --methods kd augkd mipkd "mipkd:lambda_feat=0.1,lambda_ae=0.1"
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd_methods import parse_spec  # noqa: E402


def term_norms(log: Path) -> list[tuple[int, dict[str, float]]]:
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    return [(r["step"], r["term_grad_norms"]) for r in recs if "term_grad_norms" in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--methods", nargs="+", default=["kd", "augkd", "mipkd"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| method | term | median norm, first half | median norm, second half | share (second half) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.methods:
            method, margs = parse_spec(spec)
            out = Path(tmp) / spec.replace(":", "_")
            cfg = DistillConfig(teacher=args.teacher, student=args.student, method=method, method_args=dict(margs),
                                data=args.data, scale=4, steps=args.steps, batch=args.batch, patch=args.patch,
                                seed=args.seed, threads=args.threads, precision=args.precision, val=None,
                                val_every=args.steps, ckpt_every=args.steps, term_grads_every=args.every, out=str(out))
            trainer = Trainer(cfg, progress=False)
            try:
                trainer.run()
            finally:
                trainer.close()
            rows = term_norms(out / "log.jsonl")
            half = args.steps // 2
            early = [n for s, n in rows if s <= half]
            late = [n for s, n in rows if s > half]
            terms = list(rows[0][1])
            late_med = {t: statistics.median(n[t] for n in late) for t in terms}
            total = sum(late_med.values())
            for t in terms:
                print(f"| {spec} | {t} | {statistics.median(n[t] for n in early):.4g} | {late_med[t]:.4g} "
                      f"| {100 * late_med[t] / total:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
