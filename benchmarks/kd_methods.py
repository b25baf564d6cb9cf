"""scratch / kd / augkd / mipkd students at an equal step budget, several seeds: a benchmark that survives.

Each (method + options, teacher, seed, settings) run is its own run folder under --out (outside the work
tree by default). A run whose result is recorded is skipped; an interrupted one continues with srkd's
exact resume (``Trainer(resume=True)``); a folder killed before its first checkpoint starts again. After
each finished run its scores (Set5/Set14 x4 PSNR/SSIM of the final EMA student), steps, s/step, settings
and the code's commit are appended as one JSON line to --results (committed in the repository), so the
table survives a new machine. ``--report`` prints the table from that file alone.

    python benchmarks/kd_methods.py --teacher ../shared/weights/RFDN_x4.pth --data ../shared/data/train \\
        --bench ../shared/data/bench --steps 2000 --seeds 0 1 2 --precision bf16 --threads 2
    python benchmarks/kd_methods.py --report

A method may carry options: ``mipkd:mask_ratio=0.25,mask_mode=adaptive`` (``--method-arg`` keys).
PSNR does not depend on the machine's load once precision and threads are fixed; step times do, so
compare them only from a quiet run (``--tag`` keeps such runs apart in the report).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from srkd.distill.config import DistillConfig, parse_value
from srkd.distill.precision import EMULATED_BF16, cpu_bf16_units, resolve_precision
from srkd.distill.resume import RESUME_FILE
from srkd.distill.runlog import read_jsonl
from srkd.distill.trainer import Trainer
from srkd.evaluate import evaluate
from srkd.host import cpu_model
from srkd.models.checkpoint import load_model

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kd_methods.jsonl"
DEFAULT_OUT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srkd" / "kd_methods"
SETS = ("Set5", "Set14")
STAMP = "bench_run.json"  # the commit a run started with: a resumed run must use the same code
# s/step guesses (EDSR 32x8 from RFDN_x4, batch 16, patch 32, bf16, 2 threads) until results exist
GUESS_S_PER_STEP = {"scratch": 0.13, "kd": 0.20, "augkd": 0.35, "mipkd": 0.43}
log = logging.getLogger("kd_methods")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """One benchmark run; ``key`` names it in the results file and its folder under --out."""

    method: str
    method_args: tuple[tuple[str, object], ...]
    teacher: str | None
    student: str
    seed: int
    steps: int
    batch: int
    patch: int
    precision: str
    threads: int | None
    tag: str

    @property
    def spec(self) -> str:
        return self.method + (":" + ",".join(f"{k}={v}" for k, v in self.method_args) if self.method_args else "")

    @property
    def key(self) -> str:
        fields = dataclasses.asdict(self)
        fields.pop("tag")
        fields["teacher"] = Path(self.teacher).name if self.teacher else None  # the same file from any folder
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"{self.spec.replace(':', '-').replace(',', '-').replace('=', '')}-seed{self.seed}-{digest}"


def parse_spec(text: str) -> tuple[str, tuple[tuple[str, object], ...]]:
    """``"mipkd:mask_ratio=0.25,stages=2"`` -> ("mipkd", (("mask_ratio", 0.25), ("stages", 2)))."""
    method, _, rest = text.partition(":")
    args = []
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"{text!r}: {item!r} is not key=value")
        args.append((key.strip(), parse_value(value.strip())))
    return method, tuple(sorted(args))


def read_results(path: Path) -> list[dict]:
    """Every record of the results file; a torn last line (a kill mid-append) is ignored."""
    return read_jsonl(path)


def append_result(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def commit_of(folder: Path) -> str:
    try:
        sha = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "srkd"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha[:12] + ("+dirty" if dirty else "")


def emulated_refusal(precision: str, *, allowed: bool) -> str | None:
    """Why a run at ``precision`` should not start here: bf16 on a CPU that emulates it runs ~10x slower
    than the recorded s/step (hours become days), with other arithmetic than the recorded runs'."""
    if allowed or not resolve_precision(precision, torch.device("cpu")).emulated:
        return None
    return (f"--precision {precision}: {cpu_model()}: {EMULATED_BF16}; run these on a CPU with bf16 units, "
            f"or pass --allow-emulated")


def config_for(run: Run, *, data: list[str], folder: Path, ckpt_every: int) -> DistillConfig:
    return DistillConfig(teacher=run.teacher if run.method != "scratch" else None, student=run.student,
                         method=run.method, method_args=dict(run.method_args), data=data, scale=4, steps=run.steps,
                         batch=run.batch, patch=run.patch, seed=run.seed, threads=run.threads,
                         precision=run.precision, val=None, val_every=run.steps, ckpt_every=ckpt_every,
                         out=str(folder))


def started_with(folder: Path) -> str | None:
    """The commit a run folder's training started with (None for a folder without the stamp)."""
    stamp = folder / STAMP
    return json.loads(stamp.read_text())["commit"] if stamp.is_file() else None


def train(run: Run, *, data: list[str], folder: Path, ckpt_every: int, progress: bool, commit: str) -> float:
    """Train (or resume) ``run`` in ``folder`` to its last step; returns s/step of this process's part."""
    resume = (folder / RESUME_FILE).is_file()
    if not resume and folder.exists():  # killed before its first checkpoint: nothing worth keeping
        shutil.rmtree(folder)
    if not resume:
        folder.mkdir(parents=True)
        (folder / STAMP).write_text(json.dumps({"commit": commit}))
    trainer = Trainer(config_for(run, data=data, folder=folder, ckpt_every=ckpt_every), resume=resume,
                      progress=progress)
    try:
        if trainer.step < run.steps:
            log.info("%s: %s at step %d of %d", run.key, "resuming" if resume else "starting", trainer.step, run.steps)
            return trainer.run().sec_per_step
        return float("nan")
    finally:
        trainer.close()


def score(folder: Path, *, bench: Path) -> dict[str, float]:
    model, _ = load_model(folder / "student_last.safetensors")
    out = {}
    for name in SETS:
        res = evaluate(model, data=bench / name, scale=4)
        out[f"{name.lower()}_psnr"], out[f"{name.lower()}_ssim"] = round(res.psnr, 4), round(res.ssim, 5)
    return out


def logged_sec_per_step(folder: Path) -> float | None:
    """The last s/step the run's log recorded (a resumed run logs its own part's rate)."""
    rates = [r["sec_per_step"] for r in read_results(folder / "log.jsonl") if "sec_per_step" in r]
    return rates[-1] if rates else None


def estimate_s(run: Run, done: list[dict]) -> float:
    same = [r["sec_per_step"] for r in done if r["method"] == run.method and r["student"] == run.student
            and r.get("sec_per_step")]
    return run.steps * (statistics.median(same) if same else GUESS_S_PER_STEP.get(run.method, 0.4))


def fmt_sd(values: list[float], digits: int = 3) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def vs_kd(rows: list[dict], kd: list[dict]) -> str:
    """PSNR of ``rows`` minus kd's over the same seeds, per set of SETS ("-" unless every seed has a kd run)."""
    kd_by_seed = {r["seed"]: r for r in kd}
    if not rows or any(r["seed"] not in kd_by_seed for r in rows):
        return "-"
    keys = [f"{name.lower()}_psnr" for name in SETS]
    return " / ".join(f"{statistics.mean(r[k] - kd_by_seed[r['seed']][k] for r in rows):+.3f}" for k in keys)


def report(rows: list[dict], *, tag: str | None = None) -> str:
    """Markdown table per (teacher, student, steps, ...): mean ± sd per method and options, seeds done."""
    rows = [r for r in rows if tag is None or r.get("tag") == tag]
    latest = {r["key"]: r for r in rows}  # a re-recorded run counts once
    groups: dict[tuple, list[dict]] = {}
    for r in latest.values():
        g = (r["teacher_name"] or "-", r["student"], r["steps"], r["batch"], r["patch"], r["precision"])
        groups.setdefault(g, []).append(r)
    out = []
    for (teacher, student, steps, batch, patch, prec), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        out.append(f"\nteacher {teacher}, student {student}, {steps} steps, batch {batch}, LR patch {patch}, {prec}")
        out.append("| method | seeds | Set5 PSNR | Set14 PSNR | Set5 SSIM | Set14 SSIM | vs kd, same seeds | s/step |")
        out.append("|---|---|---|---|---|---|---|---|")
        by_spec: dict[str, list[dict]] = {}
        for r in group:
            by_spec.setdefault(r["spec"], []).append(r)
        for spec, rs in sorted(by_spec.items(), key=lambda kv: (list(GUESS_S_PER_STEP).index(kv[0].split(":")[0])
                                                                  if kv[0].split(":")[0] in GUESS_S_PER_STEP else 9, kv[0])):
            seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
            sps = [r["sec_per_step"] for r in rs if r.get("sec_per_step")]
            out.append(f"| {spec} | {seeds} | {fmt_sd([r['set5_psnr'] for r in rs])} | {fmt_sd([r['set14_psnr'] for r in rs])} "
                       f"| {fmt_sd([r['set5_ssim'] for r in rs], 4)} | {fmt_sd([r['set14_ssim'] for r in rs], 4)} "
                       f"| {'-' if spec == 'kd' else vs_kd(rs, by_spec.get('kd', []))} | {statistics.median(sps) if sps else float('nan'):.3f} |")
    return "\n".join(out).lstrip("\n")


def plan(args: argparse.Namespace) -> list[Run]:
    runs = []
    for seed in args.seeds:
        for text in args.methods:  # interleaved by seed, so a partial table has every method
            method, margs = parse_spec(text)
            runs.append(Run(method=method, method_args=margs, teacher=args.teacher, student=args.student, seed=seed,
                            steps=args.steps, batch=args.batch, patch=args.patch, precision=args.precision,
                            threads=args.threads, tag=args.tag))
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher")
    ap.add_argument("--data", nargs="+")
    ap.add_argument("--bench", type=Path, help="folder holding Set5/ and Set14/")
    ap.add_argument("--student", default="edsr:n_feats=32,n_blocks=8")
    ap.add_argument("--methods", nargs="+", default=["scratch", "kd", "augkd", "mipkd"],
                    help="method names, each optionally with options: mipkd:mask_ratio=0.25")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--precision", default="bf16", help="fixed, so PSNR does not depend on the machine's load")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--tag", default="main", help="label of this table in the results file")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"run folders (default {DEFAULT_OUT})")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the JSON-lines results file")
    ap.add_argument("--report", action="store_true", help="print the table from the results file and exit")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the estimate, run nothing")
    ap.add_argument("--allow-emulated", action="store_true",
                    help="train at --precision bf16 even on a CPU without bf16 units (emulated: ~10x slower)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    if args.report:
        print(report(read_results(args.results), tag=None))
        return 0
    if not (args.teacher and args.data and args.bench):
        ap.error("--teacher, --data and --bench are needed to run (or --report)")
    done_rows = read_results(args.results)
    done = {r["key"] for r in done_rows}
    runs = plan(args)
    todo = [r for r in runs if r.key not in done]
    est = sum(estimate_s(r, done_rows) for r in todo)
    print(f"{len(runs)} runs, {len(runs) - len(todo)} already recorded in {args.results}; {len(todo)} to do, "
          f"estimated {est / 3600:.1f} h (from recorded s/step where there are any) in {args.out}", flush=True)
    if args.dry_run:
        for r in todo:
            print(f"  {r.key}  ({estimate_s(r, done_rows) / 60:.0f} min)")
        return 0
    refusal = emulated_refusal(args.precision, allowed=args.allow_emulated)
    if refusal:
        print(f"kd_methods: {refusal}", file=sys.stderr)
        return 2
    commit = commit_of(HERE)
    for run in todo:
        train_and_record(run, data=args.data, bench=args.bench, out=args.out, results=args.results,
                         ckpt_every=args.ckpt_every, commit=commit)
    print(report(read_results(args.results)))
    return 0


def train_and_record(run: Run, *, data: list[str], bench: Path, out: Path, results: Path, ckpt_every: int,
                     commit: str) -> dict | None:
    """Train (or resume) ``run`` in ``out/run.key``, score it and append its record to ``results``; None
    (and nothing run) when its folder was started at another commit."""
    folder = out / run.key
    began = started_with(folder) if (folder / RESUME_FILE).is_file() else None
    if began and began != commit:
        print(f"{run.key}: started at commit {began}, this is {commit}; resume it from a worktree at {began} "
              f"(skipped)", flush=True)
        return None
    t0 = time.time()
    sps = train(run, data=data, folder=folder, ckpt_every=ckpt_every, progress=sys.stderr.isatty(), commit=commit)
    record = {"key": run.key, "spec": run.spec, "method": run.method, "method_args": dict(run.method_args),
              "teacher": run.teacher, "teacher_name": Path(run.teacher).name if run.teacher else None,
              "student": run.student, "seed": run.seed, "steps": run.steps, "batch": run.batch, "patch": run.patch,
              "precision": run.precision, "threads": run.threads, "tag": run.tag, "commit": commit,
              "cpu": cpu_model(), "cpu_bf16": ",".join(cpu_bf16_units()) or "none",
              "sec_per_step": logged_sec_per_step(folder) if math.isnan(sps) else round(sps, 4),
              "wall_s": round(time.time() - t0, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
              **score(folder, bench=bench)}
    append_result(results, record)
    print(f"{run.key}: Set5 {record['set5_psnr']:.3f}  Set14 {record['set14_psnr']:.3f}  "
          f"{record['sec_per_step']} s/step", flush=True)
    return record


if __name__ == "__main__":
    sys.exit(main())
