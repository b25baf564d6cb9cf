"""Re-check a finished bundle: integrity, parity and latency of every artifact on real images.

``check_bundle`` measures; ``record_checks`` writes the figures into the manifest (each artifact's
``check`` entry: when, on what data, parity, latency, heatmap) and ``heatmaps`` writes a PNG of the
worst image's error per artifact.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from srkd.backends.runner import Runner
from srkd.bundle.manifest import ArtifactEntry, write_manifest
from srkd.bundle.reader import Bundle, load_bundle
from srkd.bundle.records import CheckRecord, Latency, Parity
from srkd.errors import BackendUnavailableError, ParityError, UnknownNameError
from srkd.export.heatmap import heatmap_name, write_heatmap
from srkd.export.latency import LatencyResult, measure_latency
from srkd.export.parity import ParityResult, check_parity, parity_images

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ArtifactCheck:
    """The figures measured now for one manifest entry, or why it was not run here (``skipped``)."""

    entry: ArtifactEntry
    parity: ParityResult | None
    latency: LatencyResult | None
    heatmap: Path | None = None
    images: list[str] = dataclasses.field(default_factory=list)
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        """Measured and within its parity rule (a skipped artifact has not passed, nor failed)."""
        return self.parity is not None and self.parity.passed

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.entry.file, "backend": self.entry.backend, "precision": self.entry.precision,
                "parity": self.parity.to_dict() if self.parity else None,
                "latency": self.latency.to_dict() if self.latency else None,
                "heatmap": str(self.heatmap) if self.heatmap else None, "skipped": self.skipped}


def check_bundle(
    bundle: str | os.PathLike | Bundle, *, data: str | os.PathLike | None = None, images: int | None = 5,
    crop: int | None = 256, sizes: Sequence[int] = (64, 128), runs: int = 10, threads: int | None = None,
    device: str = "cpu", heatmaps: str | os.PathLike | None = None, skip: Sequence[str] | Mapping[str, str] = (),
) -> list[ArtifactCheck]:
    """Verify hashes, then run parity (against the bundle's torch fp32 student) and latency per artifact.

    Returns one ArtifactCheck per artifact, failures included; ``sizes=()`` skips latency (the sides of
    fixed-shape artifacts are added to the others).
    ``heatmaps``: a folder for one PNG per artifact that differs from the reference (worst image).
    ``skip``: backends not to run (e.g. ``tensorrt`` where there is no GPU), or a mapping backend ->
    why; an artifact that cannot start here (BackendUnavailableError: a missing runtime, an engine
    built for another GPU) is skipped too, with its reason, and the others go on. Raises
    CheckpointError when the bundle is damaged and ParityError when it has no torch fp32 reference.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    try:
        ref_entry = bundle.find(backend="torch", precision="fp32")
    except UnknownNameError:
        raise ParityError(f"{bundle.path}: no torch fp32 artifact to compare against (needed as the reference)") from None
    photos = parity_images(data, limit=images, crop=crop)
    hr = [img for _, img in photos]
    fixed = {int(a.io["fixed_side"]) for a in bundle.artifacts if a.io.get("fixed_side")}
    sizes = tuple(sorted({*sizes, *fixed})) if sizes else ()  # so --backend auto compares at a size all ran
    results = []
    with bundle.runner(ref_entry, device=device) as reference:
        for entry in bundle.artifacts:
            runner, why = _start(bundle, entry, device=device, threads=threads, skip=skip)
            if runner is None:
                results.append(ArtifactCheck(entry, None, None, skipped=why))
                log.warning("check %s: skipped (%s)", entry.file, why)
                continue
            with runner:
                parity = check_parity(runner, reference, images=hr, scale=bundle.spec.scale)
                latency = measure_latency(runner, sizes=sizes, runs=runs) if sizes else None
            check = ArtifactCheck(entry, parity, latency, images=[n for n, _ in photos])
            if heatmaps is not None and parity.worst_error is not None and parity.max_abs > 0:
                name = photos[parity.worst_image][0]
                peak = float(parity.worst_error.max()) * 255
                title = (f"{entry.file} ({parity.name}) vs torch fp32\n"
                         f"worst image {name}: PSNR {parity.psnr_vs_ref:.2f} dB, max {peak:.2f} levels")
                check.heatmap = write_heatmap(Path(heatmaps) / heatmap_name(entry.file, entry.precision, entry.backend),
                                              parity.worst_error, title=title)
            results.append(check)
            log.info("check %s: %s", entry.file, "ok" if parity.passed else "FAILED")
    return results


def _start(bundle: Bundle, entry: ArtifactEntry, *, device: str, threads: int | None,
           skip: Sequence[str] | Mapping[str, str]) -> tuple[Runner | None, str | None]:
    """The artifact's runner, active, or None and why it cannot run here."""
    if entry.backend in skip:
        return None, skip[entry.backend] if isinstance(skip, Mapping) else "skipped on request"
    try:
        return bundle.runner(entry, device=device, threads=threads).activate(), None
    except BackendUnavailableError as exc:
        return None, str(exc)


def record_checks(bundle: str | os.PathLike | Bundle, checks: Sequence[ArtifactCheck], *, data: str | None) -> Path:
    """Write each check's figures into the bundle manifest as the artifact's ``check`` entry."""
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, verify=False)
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    by_key = {(c.entry.file, c.entry.backend, c.entry.precision): c for c in checks}
    artifacts = []
    for entry in bundle.artifacts:
        check = by_key.get((entry.file, entry.backend, entry.precision))
        if check is not None and check.parity is not None:  # a skipped artifact keeps the figures it has
            heat = None
            if check.heatmap is not None:
                heat = os.path.relpath(check.heatmap, bundle.path) if Path(check.heatmap).is_relative_to(bundle.path) else str(check.heatmap)
            latency = Latency.from_dict(check.latency.to_dict()) if check.latency else None
            entry = dataclasses.replace(entry, check=CheckRecord(
                created=when, data=data or "scikit-image sample photos", images=tuple(check.images),
                parity=Parity.from_dict(check.parity.to_dict()), latency=latency, heatmap=heat))
        artifacts.append(entry)
    return write_manifest(bundle.path, dataclasses.replace(bundle.manifest, artifacts=tuple(artifacts)))
