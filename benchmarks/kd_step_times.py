"""Step-time ratios of the KD methods, measured side by side in one process on a quiet machine.

Runs short trainings (same student, teacher, data and settings as the KD comparison) in rounds,
every method once per round, so that a change in the machine's load hits all methods alike; prints
the median s/step per method over the rounds and its ratio to ``kd``. The KD comparison's own
s/step figures come from a machine shared with other work; these are the ones to quote.

    python benchmarks/kd_step_times.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd_methods import parse_spec  # noqa: E402


def time_run(*, spec: str, args: argparse.Namespace, out: Path) -> float:
    """s/step of one short run of ``spec`` (the trainer's own clock, set-up excluded)."""
    method, margs = parse_spec(spec)
    cfg = DistillConfig(teacher=args.teacher, student=args.student, method=method, method_args=dict(margs),
                        data=args.data, scale=4, steps=args.steps, batch=args.batch, patch=args.patch,
                        seed=0, threads=args.threads, precision=args.precision, val=None,
                        val_every=args.steps, ckpt_every=args.steps, out=str(out))
    trainer = Trainer(cfg, progress=False)
    try:
        return trainer.run().sec_per_step
    finally:
        trainer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--methods", nargs="+", default=["scratch", "kd", "augkd", "mipkd"])
    ap.add_argument("--steps", type=int, default=40, help="steps per run (the first is a warm-up inside it)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if "kd" not in args.methods:
        ap.error("--methods must include kd (the ratios are to kd)")
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for spec in args.methods:
                sps = time_run(spec=spec, args=args, out=Path(tmp) / f"{spec.replace(':', '_')}-{r}")
                times[spec].append(sps)
                print(f"round {r}: {spec} {sps:.4f} s/step", flush=True)
    kd = statistics.median(times["kd"])
    print(f"\n{args.student}, batch {args.batch}, LR patch {args.patch}, {args.precision}, {args.threads} threads, "
          f"{args.steps} steps x {args.rounds} rounds\n")
    print("| method | s/step (median) | min - max | ratio to kd |")
    print("|---|---|---|---|")
    for spec, ts in times.items():
        med = statistics.median(ts)
        print(f"| {spec} | {med:.4f} | {min(ts):.4f} - {max(ts):.4f} | {med / kd:.2f}x |")


if __name__ == "__main__":
    main()
