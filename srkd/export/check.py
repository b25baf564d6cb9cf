"""Re-check a finished bundle: integrity, parity and latency of every artifact on real images."""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Sequence

from srkd.errors import ParityError
from srkd.export.bundle import Bundle, load_bundle
from srkd.export.latency import LatencyResult, measure_latency
from srkd.export.parity import ParityResult, check_parity, parity_images

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ArtifactCheck:
    """The figures measured now for one manifest entry."""

    entry: dict[str, Any]
    parity: ParityResult
    latency: LatencyResult | None

    @property
    def passed(self) -> bool:
        return self.parity.passed

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.entry["file"], "backend": self.entry["backend"], "precision": self.entry["precision"],
                "parity": self.parity.to_dict(), "latency": self.latency.to_dict() if self.latency else None}


def check_bundle(
    bundle: str | os.PathLike | Bundle, *, data: str | os.PathLike | None = None, images: int | None = 5,
    crop: int | None = 256, sizes: Sequence[int] = (64, 128), runs: int = 10, threads: int | None = None,
    device: str = "cpu",
) -> list[ArtifactCheck]:
    """Verify hashes, then run parity (against the bundle's torch fp32 student) and latency per artifact.

    Returns one ArtifactCheck per artifact, failures included; ``sizes=()`` skips latency.
    Raises CheckpointError when the bundle is damaged and ParityError when it has no torch fp32 reference.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    try:
        ref_entry = bundle.find(backend="torch", precision="fp32")
    except KeyError:
        raise ParityError(f"{bundle.path}: no torch fp32 artifact to compare against (needed as the reference)") from None
    hr = [img for _, img in parity_images(data, limit=images, crop=crop)]
    results = []
    with bundle.runner(ref_entry, device=device) as reference:
        for entry in bundle.artifacts:
            with bundle.runner(entry, device=device, threads=threads) as runner:
                parity = check_parity(runner, reference, images=hr, scale=bundle.spec.scale)
                latency = measure_latency(runner, sizes=sizes, runs=runs) if sizes else None
            results.append(ArtifactCheck(entry, parity, latency))
            log.info("check %s: %s", entry["file"], "ok" if parity.passed else "FAILED")
    return results
