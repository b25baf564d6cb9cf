"""Which student for a latency budget: EDSR 32x8, SPAN at two widths and Compact at two depths, each
distilled with ``kd`` from one teacher at equal settings, then scored and timed side by side.

Training is benchmarks/kd_methods.py's: every student is a kd_methods ``Run`` (tag ``students``) with
its run folder under --out, exact resume, and its record (Set5/Set14 x4 PSNR/SSIM of the final EMA
student) appended to --results; its student is also kept, folded, under --keep
(``benchmarks/results/students/``, committed: run folders do not survive a new machine), and a
recorded run whose student is in either place is not trained again (EDSR 32x8 at these settings is
the KD comparison's ``kd`` seed-0 run). Then, in this one process, for every trained student: parameters and GFLOP at 256 px of the network every artifact
runs (SPAN with its branches folded), ``srkd export --cpu`` into ``<run folder>/bundle`` (kept while
the student is unchanged), and the p50 at 256 px LR of every CPU backend in the bundle, all of a
student's rows side by side with the same threads (benchmarks/cpu_backends.py's timing, ``--rounds``
with the order rotated, best p50 kept). One JSON line per student goes to --measured and the markdown
table is printed (``--report`` prints the last measurement's table again).

The run for benchmarks/RESULTS.md (quiet machine, not while the KD comparison runs; about 2 s/step for
EDSR 32x8 on this 2-core box when busy, SPAN 48 several times that: plan a few hours):

    python benchmarks/students.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train \\
        --bench ../shared/data/bench --steps 2000 --batch 16 --patch 32 --precision bf16 --threads 2

The chain end to end at a toy setting (results kept out of the repository):

    python benchmarks/students.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train \\
        --bench ../shared/data/bench --steps 20 --batch 4 --patch 24 --size 64 --runs 2 \\
        --out /tmp/students --results /tmp/students.jsonl --measured /tmp/students_measured.jsonl

The students: SPAN 28 (0.151 M parameters deployed, 19.7 GFLOP) and 48 (the paper's, 0.426 M, 55.7);
Compact at the width of every Real-ESRGAN release (64 features) with 8 convs (42.5 GFLOP, next to
EDSR 32x8's 46.6: the same budget) and 16 (realesr-animevideov3's network, 81.2). SPAN trains with
``norm=false`` (srkd's default; see srkd/models/span.py: the release's normalisation fails bf16 and
int8 parity). Every one is expressible by spandrel (``srkd export --spandrel``). The PSNR columns are
the fp32 student's; an int8 row passed export only within 0.3 dB of fp32 on the parity photos.
"""
from __future__ import annotations

import argparse
import logging
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kd_methods as kdm  # noqa: E402
from cpu_backends import ROWS, lr_inputs, make_runners, time_size  # noqa: E402
from flops import conv_flops  # noqa: E402

from srkd.bundle.reader import load_bundle  # noqa: E402
from srkd.errors import SrkdError  # noqa: E402
from srkd.fsutil import sha256_file  # noqa: E402
from srkd.host import cpu_model  # noqa: E402
from srkd.models.checkpoint import load_checkpoint, load_model, save_model  # noqa: E402
from srkd.models.repconv import fold_for_inference  # noqa: E402

STUDENTS = ("edsr:n_feats=32,n_blocks=8", "span:feature_channels=28", "span:feature_channels=48",
            "compact:num_feat=64,num_conv=8", "compact:num_feat=64,num_conv=16")
MEASURED = kdm.HERE / "results" / "students.jsonl"
KEPT = kdm.HERE / "results" / "students"  # the trained students, folded: committed, so a new machine measures them
STUDENT_FILE = "student_last.safetensors"


def plan(args: argparse.Namespace) -> list[kdm.Run]:
    return [kdm.Run(method="kd", method_args=(), teacher=args.teacher, student=s, seed=args.seed, steps=args.steps,
                    batch=args.batch, patch=args.patch, precision=args.precision, threads=args.threads, tag="students")
            for s in args.students]


def student_of(run: kdm.Run, args: argparse.Namespace) -> Path | None:
    """The trained student of ``run``: its run folder's, else the copy kept under --keep."""
    for path in (args.out / run.key / STUDENT_FILE, args.keep / f"{run.key}.safetensors"):
        if path.is_file():
            return path
    return None


def keep(run: kdm.Run, args: argparse.Namespace) -> None:
    """Copy the run folder's student under --keep, folded (the network every artifact runs; a quarter of
    SPAN's trained size), with its provenance; run folders live outside the repository, this copy in it."""
    src, dst = args.out / run.key / STUDENT_FILE, args.keep / f"{run.key}.safetensors"
    if src.is_file() and not dst.is_file():
        ckpt = load_checkpoint(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        save_model(dst, fold_for_inference(ckpt.model), provenance=(ckpt.metadata or {}).get("provenance"))


def bundle_for(folder: Path, student: Path, *, threads: int) -> Path:
    """``folder/bundle``, exported from ``student`` with ``srkd export --cpu`` unless it already holds it."""
    out = folder / "bundle"
    if (out / "manifest.json").is_file() and sha256_file(out / "student.safetensors") == sha256_file(student):
        return out
    cmd = [sys.executable, "-m", "srkd", "export", str(student), "--out", str(out), "--cpu", "--overwrite",
           "--threads", str(threads), "--sizes", "64", "--runs", "3"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SrkdError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}")
    return out


def measure(run: kdm.Run, scores: dict, args: argparse.Namespace) -> dict:
    """Size, cost and every CPU backend's p50 of one trained student (its rows side by side)."""
    folder, student = args.out / run.key, student_of(run, args)
    model, spec = load_model(student)
    net = fold_for_inference(model)
    row = {"key": run.key, "student": run.student, "params": sum(p.numel() for p in net.parameters()),
           "gflop": round(conv_flops(net, height=args.size, width=args.size) / 1e9, 2), "size": args.size,
           **{k: scores[k] for k in ("set5_psnr", "set14_psnr", "commit")}}
    bundle = load_bundle(bundle_for(folder, student, threads=args.threads))
    runners, skipped = make_runners(bundle, args.threads)
    x = lr_inputs(args.images, [args.size], spec.scale)[args.size]
    best: dict[str, float] = {}
    try:
        for i in range(args.rounds):
            p50s, _ = time_size(runners, x, runs=args.runs, warmup=args.warmup, per_call=False, shift=i)
            best = {k: min(v, best.get(k, math.inf)) for k, v in p50s.items()}
    finally:
        for r in runners.values():
            r.deactivate()
    fp32 = {k: v for k, v in best.items() if k.split(":")[1].startswith("fp32")}
    fastest, fastest_fp32 = min(best, key=best.__getitem__), min(fp32, key=fp32.__getitem__)
    return {**row, "p50_ms": {k: round(v, 2) for k, v in best.items()}, "skipped": skipped, "fastest": fastest,
            "fastest_ms": round(best[fastest], 2), "fastest_fp32": fastest_fp32,
            "fastest_fp32_ms": round(best[fastest_fp32], 2)}


def table(rows: list[dict]) -> str:
    """The choice table (fastest p50 first) and every backend's p50 per student."""
    rows = sorted(rows, key=lambda r: r["fastest_ms"])
    size = rows[0]["size"]
    out = [f"| student | parameters (deployed) | GFLOP @{size} px | Set5 PSNR | Set14 PSNR | fastest CPU backend "
           f"| p50 ms @{size} px | fastest fp32 | p50 ms |", "|---|---:|---:|---:|---:|---|---:|---|---:|"]
    out += [f"| {r['student']} | {r['params'] / 1e6:.3f} M | {r['gflop']:.1f} | {r['set5_psnr']:.3f} | "
            f"{r['set14_psnr']:.3f} | {r['fastest']} | {r['fastest_ms']:.1f} | {r['fastest_fp32']} | "
            f"{r['fastest_fp32_ms']:.1f} |" for r in rows]
    labels = [f"{b}:{p}" for b, p in ROWS if any(f"{b}:{p}" in r["p50_ms"] for r in rows)]
    out += ["", f"p50 ms at {size} px LR per backend:", "", "| student | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels)]
    out += [f"| {r['student']} | " + " | ".join(f"{r['p50_ms'][k]:.1f}" if k in r["p50_ms"] else "-" for k in labels)
            + " |" for r in rows]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher")
    ap.add_argument("--data", nargs="+")
    ap.add_argument("--bench", type=Path, help="folder holding Set5/ and Set14/")
    ap.add_argument("--students", nargs="+", default=list(STUDENTS), help="--student strings")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2, help="training and every runtime's threads")
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--size", type=int, default=256, help="LR side the cost and the p50 are measured at")
    ap.add_argument("--runs", type=int, default=10, help="timed calls per backend and round")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="timing rounds, backend order rotated; best p50 kept")
    ap.add_argument("--images", default=None, help="HR photos for the timed input (default: scikit-image's)")
    ap.add_argument("--out", type=Path, default=kdm.DEFAULT_OUT, help=f"run folders (default {kdm.DEFAULT_OUT})")
    ap.add_argument("--results", type=Path, default=kdm.RESULTS, help="kd_methods' training results file")
    ap.add_argument("--measured", type=Path, default=MEASURED, help="this script's JSON-lines measurements")
    ap.add_argument("--keep", type=Path, default=KEPT, help="where the trained students are kept, folded (committed)")
    ap.add_argument("--report", action="store_true", help="print the last measurement's table and exit")
    ap.add_argument("--allow-emulated", action="store_true",
                    help="train at --precision bf16 even on a CPU without bf16 units (emulated: ~10x slower)")
    ap.add_argument("--keep-only", action="store_true",
                    help="keep the finished students (trained elsewhere, e.g. by kd_methods.py) under --keep and exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    if args.report:
        rows = kdm.read_results(args.measured)
        last = rows[-1]["measurement"] if rows else None
        print(table([r for r in rows if r["measurement"] == last]) if rows else f"no measurements in {args.measured}")
        return 0
    if args.keep_only:
        recorded = {r["key"] for r in kdm.read_results(args.results)}
        for run in plan(args):
            if run.key in recorded:
                keep(run, args)
            print(f"{run.student}: {'kept' if student_of(run, args) and run.key in recorded else 'not finished'}")
        return 0
    if not (args.teacher and args.data and args.bench):
        raise SystemExit("--teacher, --data and --bench are needed to run (or --report)")
    commit = kdm.commit_of(kdm.HERE)
    runs = plan(args)
    recorded_keys = {r["key"] for r in kdm.read_results(args.results)}
    untrained = [r for r in runs if not (r.key in recorded_keys and student_of(r, args))]
    refusal = kdm.emulated_refusal(args.precision, allowed=args.allow_emulated) if untrained else None
    if refusal:
        raise SystemExit(f"students: {len(untrained)} to train; {refusal}")
    for run in runs:
        recorded = run not in untrained or kdm.train_and_record(
            run, data=args.data, bench=args.bench, out=args.out, results=args.results, ckpt_every=args.ckpt_every,
            commit=commit)
        if recorded:  # finished: a run folder's student mid-run is never kept
            keep(run, args)
    scores = {r["key"]: r for r in kdm.read_results(args.results)}
    stamp, rows = time.strftime("%Y-%m-%dT%H:%M:%S"), []
    for run in runs:
        if run.key not in scores or not student_of(run, args):
            print(f"{run.student}: not trained (see above); not measured", flush=True)
            continue
        try:
            row = measure(run, scores[run.key], args)
        except SrkdError as exc:
            print(f"{run.student}: not measured: {exc}", flush=True)
            continue
        row.update(measurement=stamp, measured_with=commit, cpu=cpu_model(), threads=args.threads)
        kdm.append_result(args.measured, row)
        rows.append(row)
        print(f"{run.student}: fastest {row['fastest']} {row['fastest_ms']} ms", flush=True)
    if rows:
        print(f"\nteacher {Path(args.teacher).name}, kd, {args.steps} steps, batch {args.batch}, LR patch {args.patch}, "
              f"{args.precision}, seed {args.seed}; {cpu_model()}, {args.threads} threads\n")
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
