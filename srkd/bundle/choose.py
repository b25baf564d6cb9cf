"""Choosing and opening a bundle's artifact: the one way srkd runs a bundle (``srkd upscale``,
``srkd.load``, the tests).

::

    from srkd.bundle.choose import open_runner

    with open_runner("bundle/", backend="auto", precision="auto") as runner:
        sr = runner.infer(lr)  # float32 NCHW RGB [0, 1] in -> float32 NCHW [0, 1], x runner.spec.scale

``choose_artifact`` takes, among the artifacts of the precision asked for (every precision with
``auto``) that passed parity (at export and at the last ``srkd check``) and whose backend can run on
the device, the one with the lowest recorded p50 latency (``srkd check``'s figures when present, else
export's) at the largest size they were all timed at, among those timed on this kind of device (a GPU
for ``cuda``: torch on CUDA, ONNX Runtime's GPU providers, TensorRT). Figures taken on another CPU
model count only when none were taken on this one (with a warning). Without figures the backends' ``auto_rank`` decides
(TensorRT, OpenVINO, ONNX Runtime, torch), fp32 first. ``open_runner`` activates the pick and, when it
cannot start here (a missing runtime), the next one.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Sequence

from srkd.backends import BACKENDS, can_run
from srkd.bundle.manifest import ArtifactEntry
from srkd.bundle.reader import load_bundle
from srkd.errors import BackendUnavailableError, UnknownNameError

if TYPE_CHECKING:
    import torch

    from srkd.backends.runner import Runner

log = logging.getLogger(__name__)


def _p50_by_size(entry: ArtifactEntry, device: torch.device, *, same_cpu: bool) -> dict[int, float]:
    """Recorded p50 ms per size, when they were measured on this kind of device (GPU or CPU) and, with
    ``same_cpu``, on a CPU of this model (the machine class the bundle now runs on)."""
    from srkd.host import cpu_model

    latency = entry.check.latency if entry.check is not None and entry.check.latency is not None else entry.latency
    if bool(latency.gpu) != (device.type == "cuda"):
        return {}
    if same_cpu and device.type == "cpu" and latency.cpu not in (None, cpu_model()):
        return {}
    return {int(s.size): float(s.p50_ms) for s in latency.sizes if s.p50_ms}


def _rank(entry: ArtifactEntry) -> tuple[int, bool]:
    return BACKENDS.get(entry.backend).auto_rank if entry.backend in BACKENDS else 99, entry.precision != "fp32"


def choose_artifact(artifacts: Sequence[ArtifactEntry], *, precision: str, device: torch.device) -> ArtifactEntry | None:
    """The ``auto`` pick among ``artifacts`` (see the module docstring); None when nothing fits."""
    fits = [a for a in artifacts if (precision == "auto" or a.precision == precision) and a.passed
            and can_run(a.backend, device, a.precision)]
    if not fits:
        return None
    timings = [_p50_by_size(a, device, same_cpu=True) for a in fits]
    if not any(timings):
        timings = [_p50_by_size(a, device, same_cpu=False) for a in fits]
        if any(timings):
            from srkd.host import cpu_model

            log.warning("the bundle's latencies were measured on another CPU, not this %s; the auto choice may not be "
                        "the fastest here (re-time with `srkd check BUNDLE`)", cpu_model())
    timed = [(a, t) for a, t in zip(fits, timings) if t]  # an artifact not timed on this device has no say
    common = set.intersection(*(set(t) for _, t in timed)) if timed else set()
    if common:
        size = max(common)
        return min(timed, key=lambda at: at[1][size])[0]
    return min(fits, key=_rank)


def open_runner(bundle_dir: str | os.PathLike, *, backend: str = "auto", precision: str = "fp32",
                device: str | torch.device = "auto", threads: int | None = None) -> Runner:
    """The active Runner of the artifact ``choose_artifact`` ranks first among those of ``backend`` (all
    with ``auto``) and ``precision``; the next one when it cannot start. UnknownNameError when the bundle
    has no such artifact at all; BackendUnavailableError, with every reason, when none can run here."""
    from srkd.device import pick_device

    bundle, dev = load_bundle(bundle_dir), pick_device(device)
    left = [a for a in bundle.artifacts if backend in ("auto", a.backend)]
    have = ", ".join(a.key + ("" if a.passed else " (failed parity)") for a in bundle.artifacts) or "(none)"
    if not any(precision in ("auto", a.precision) for a in left):
        asked = ":".join(p for p in (backend, precision) if p != "auto") or "runnable"
        raise UnknownNameError(f"{bundle_dir}: no {asked} artifact; the bundle has {have}")
    problems = []
    while (entry := choose_artifact(left, precision=precision, device=dev)) is not None:
        try:
            runner = bundle.runner(entry, device=dev, threads=threads)
            runner.activate()
        except BackendUnavailableError as exc:
            problems.append(str(exc))
            left = [a for a in left if a is not entry]
            continue
        log.info("%s: %s/%s chose %s on %s", bundle_dir, backend, precision, entry.key, dev)
        return runner
    cannot = dict.fromkeys(f"{a.key}: {verdict.why}" for a in left if precision in ("auto", a.precision) and a.passed
                           and not (verdict := can_run(a.backend, dev, a.precision)))
    why = (f"; cannot run here: {'; '.join(cannot)}" if cannot else "") + \
          (f"; could not start: {'; '.join(problems)}" if problems else "")
    raise BackendUnavailableError(f"{bundle_dir}: no artifact for backend {backend}, precision {precision} on {dev} "
                                  f"that passed its parity check; the bundle has {have}{why}")
