"""The CI gate: a bundle's accuracy and latency against a stored baseline.

Latency is compared as a ratio to a fixed reference workload (srkd.export.refwork: a seeded conv
stack on the artifact's own backend) timed in the same run before and after each artifact, so a
slower or busier runner moves both and the ratio holds. Both sides use the fastest of all their timed
runs (two passes over every artifact after a warm-up pass): on a shared machine interference only
ever adds time, so the minimum is the steadiest estimate of what the code costs. Accuracy is PSNR
against HR on the same real images. ``measure_gate`` runs the bundle, ``compare`` lists what
regressed, ``benchmark_entries`` gives github-action-benchmark's ``customSmallerIsBetter`` records.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any, Mapping, Sequence

import torch

from srkd import __version__
from srkd.bundle.manifest import ArtifactEntry
from srkd.bundle.reader import Bundle, load_bundle
from srkd.export.baseline import FORMAT, GateError, read_baseline
from srkd.export.check import check_bundle
from srkd.export.latency import host_info, measure_latency, settle_allocator
from srkd.export.refwork import WORKLOAD, ReferenceWorkload

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "GateError", "GateRow", "benchmark_entries", "compare", "measure_gate", "read_baseline"]


def artifact_key(entry: ArtifactEntry) -> str:
    return f"{entry.backend}:{entry.precision}:{entry.file}"


def measure_gate(
    bundle: str | os.PathLike | Bundle, *, data: str | None = None, images: int = 3, crop: int | None = 256,
    sizes: Sequence[int] = (64,), runs: int = 10, threads: int = 1, skip: Sequence[str] | Mapping[str, str] = (),
) -> dict[str, Any]:
    """Parity and latency of every artifact, with latency also as a ratio to the reference workload.

    ``threads`` applies to torch, ONNX Runtime and OpenVINO alike (and so to the reference workload): with the
    same thread count on both sides of the ratio, contention on a shared runner affects both alike.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(bundle, data=data, images=images, crop=crop, sizes=sizes, runs=runs, threads=threads, skip=skip)
    finally:
        torch.set_num_threads(saved)


def _time_all(bundle: Bundle, entries: list[ArtifactEntry], *, sizes, runs, threads, rounds: int) -> tuple[dict, dict]:
    """Per artifact and size: its fastest run over ``rounds`` passes over every artifact, divided by
    the fastest run of its backend's reference workload, timed before and after each artifact in every
    pass. One untimed warm-up pass over everything comes first (and the allocator is settled)."""
    settle_allocator()
    work, fastest, refs = ReferenceWorkload(threads=threads), {}, {}
    runners = [bundle.runner(entry, threads=threads) for entry in entries]
    try:
        for runner in runners:
            runner.activate()
        for entry, runner in zip(entries, runners):  # warm-up pass: every backend, reference and shape
            work.min_ms(entry.backend, runs=1)
            measure_latency(runner, sizes=sizes, runs=1, warmup=1)
        for _ in range(rounds):
            for entry, runner in zip(entries, runners):
                backend = entry.backend
                refs.setdefault(backend, []).append(work.min_ms(backend))
                for s in measure_latency(runner, sizes=sizes, runs=runs).sizes:
                    key = (artifact_key(entry), str(s.size))
                    if key not in fastest or s.min_ms < fastest[key].min_ms:
                        fastest[key] = s
                refs[backend].append(work.min_ms(backend))
    finally:
        for runner in runners:
            runner.deactivate()
    ref_ms = {backend: min(v) for backend, v in refs.items()}
    by_key = {artifact_key(e): e.backend for e in entries}
    figures = {}
    for (key, size), s in fastest.items():
        ref = ref_ms[by_key[key]]
        figures[key, size] = {"p50_ms": s.p50_ms, "min_ms": s.min_ms, "reference_ms": ref, "ratio": s.min_ms / ref}
    return figures, ref_ms


def _measure(bundle: Bundle, *, data, images, crop, sizes, runs, threads, skip, rounds=2) -> dict[str, Any]:
    every = check_bundle(bundle, data=data, images=images, crop=crop, sizes=(), threads=threads, skip=skip)
    checks = [c for c in every if c.parity is not None]
    best, ref_ms = _time_all(bundle, [c.entry for c in checks], sizes=sizes, runs=runs, threads=threads, rounds=rounds)
    artifacts = {}
    for check in checks:
        entry, p, key = check.entry, check.parity, artifact_key(check.entry)
        artifacts[key] = {
            "file": entry.file, "backend": entry.backend, "precision": entry.precision,
            "passed": p.passed, "psnr_vs_hr": p.psnr_vs_hr, "psnr_vs_ref": p.to_dict()["psnr_vs_ref"],
            "fp32_psnr_vs_hr": p.ref_psnr_vs_hr, "criterion": p.criterion,
            "sizes": {size: fig for (k, size), fig in best.items() if k == key},
        }
    return {
        "format": FORMAT, "srkd_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"arch": bundle.spec.arch, "scale": bundle.spec.scale, "hparams": bundle.spec.hparams},
        "settings": {"data": data, "images": images, "crop": crop, "sizes": list(sizes), "runs": runs, "threads": threads,
                     "rounds": rounds},
        "host": host_info(), "reference": {"workload": WORKLOAD, "min_ms": ref_ms},
        "artifacts": artifacts, "skipped": {artifact_key(c.entry): c.skipped for c in every if c.parity is None},
    }


@dataclasses.dataclass(kw_only=True)
class GateRow:
    """One compared figure; ``status`` is ok, REGRESSED, missing (in the baseline only), skipped (in the
    bundle but unable to run here; ``limit`` says why) or new (in the bundle only: not gated)."""

    artifact: str
    metric: str
    baseline: float | None
    current: float | None
    limit: str
    status: str

    @property
    def regressed(self) -> bool:
        return self.status in ("REGRESSED", "missing")

    @property
    def new(self) -> bool:
        return self.status == "new"


def compare(baseline: dict[str, Any], current: dict[str, Any], *, max_slowdown: float = 1.15,
            max_psnr_drop: float = 0.05) -> list[GateRow]:
    """Every figure of ``current`` against ``baseline``: parity, PSNR vs HR, latency ratio per size. A PSNR
    of None (NaN outputs) regresses against a number; against None there is nothing to compare."""
    rows: list[GateRow] = []
    base_arts, cur_arts = baseline.get("artifacts", {}), current.get("artifacts", {})
    for key, base in base_arts.items():
        cur = cur_arts.get(key)
        if cur is None and key in current.get("skipped", {}):  # cannot run here: shown, not a regression
            rows.append(GateRow(artifact=key, metric="present", baseline=1, current=None,
                                limit=current["skipped"][key], status="skipped"))
            continue
        if cur is None:
            rows.append(GateRow(artifact=key, metric="present", baseline=1, current=0, limit="in the bundle", status="missing"))
            continue
        rows.append(GateRow(artifact=key, metric="parity passed", baseline=float(base["passed"]), current=float(cur["passed"]),
                            limit=cur.get("criterion", ""), status="ok" if cur["passed"] or not base["passed"] else "REGRESSED"))
        b_psnr, c_psnr = base.get("psnr_vs_hr"), cur.get("psnr_vs_hr")
        if b_psnr is not None:
            worse = c_psnr is None or b_psnr - c_psnr > max_psnr_drop
            rows.append(GateRow(artifact=key, metric="PSNR vs HR (dB)", baseline=b_psnr, current=c_psnr,
                                limit=f"drop <= {max_psnr_drop:g} dB", status="REGRESSED" if worse else "ok"))
        for size, b in base.get("sizes", {}).items():
            c = cur.get("sizes", {}).get(size)
            if c is None:
                continue
            slow = c["ratio"] / b["ratio"]
            rows.append(GateRow(artifact=key, metric=f"{size}px latency / reference", baseline=b["ratio"], current=c["ratio"],
                                limit=f"x{max_slowdown:g}", status="REGRESSED" if slow > max_slowdown else "ok"))
    rows += [GateRow(artifact=k, metric="present", baseline=0, current=1, limit="not gated", status="new")
             for k in cur_arts if k not in base_arts]
    return rows


def benchmark_entries(current: dict[str, Any]) -> list[dict[str, Any]]:
    """github-action-benchmark ``customSmallerIsBetter`` records: latency ratio and ms per artifact and
    size, and each artifact's PSNR loss against torch fp32's on HR."""
    out = []
    for key, art in current["artifacts"].items():
        for size, fig in art["sizes"].items():
            out.append({"name": f"{key} {size}px latency / reference workload", "unit": "ratio",
                        "value": round(fig["ratio"], 4),
                        "extra": f"fastest {fig['min_ms']:.3f} ms, p50 {fig['p50_ms']:.3f} ms; reference {fig['reference_ms']:.3f} ms"})
            out.append({"name": f"{key} {size}px p50", "unit": "ms", "value": round(fig["p50_ms"], 4)})
        out.append({"name": f"{key} PSNR loss vs torch fp32 on HR", "unit": "dB",
                    "value": round(art["fp32_psnr_vs_hr"] - art["psnr_vs_hr"], 4)})
    return out
