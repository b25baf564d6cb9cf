"""Reading a bundle: ``load_bundle`` checks the manifest and every file's SHA-256 and returns a ``Bundle``
whose ``runner(entry)`` opens any listed artifact with its backend from the registry. Choosing and
opening the best artifact for a device is ``srkd.bundle.choose.open_runner``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from srkd.backends import BACKENDS, backend_names
from srkd.backends.spec import OpenRequest
from srkd.bundle.manifest import MANIFEST_NAME, STUDENT_FILE, ArtifactEntry, Manifest, read_manifest
from srkd.errors import CheckpointError, UnknownNameError
from srkd.fsutil import sha256_file
from srkd.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch

    from srkd.backends.runner import Runner


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded bundle: its folder and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def spec(self) -> ModelSpec:
        return self.manifest.spec

    @property
    def artifacts(self) -> list[ArtifactEntry]:
        return list(self.manifest.artifacts)

    def find(self, *, backend: str, precision: str = "fp32") -> ArtifactEntry:
        """The artifact entry for ``backend``/``precision``; UnknownNameError listing what exists."""
        for entry in self.artifacts:
            if entry.backend == backend and entry.precision == precision:
                return entry
        have = ", ".join(a.key for a in self.artifacts) or "(none)"
        raise UnknownNameError(f"{self.path}: no {backend}:{precision} artifact; the bundle has {have}")

    def rebuild_command(self) -> str:
        """The ``srkd export`` line that rebuilds this bundle in place with the same artifacts."""
        flags = self.manifest.export.flags if self.manifest.export else ()
        return " ".join(["srkd export", str(self.path / STUDENT_FILE), "--out", str(self.path), "--overwrite", *flags])

    def runner(self, entry: ArtifactEntry, *, device: str | torch.device = "cpu", threads: int | None = None,
               ort_ep: str | None = None) -> Runner:
        """An inactive Runner for ``entry`` (one of ``artifacts``), opened by its backend.

        ``ort_ep``: ONNX Runtime's execution provider (cpu | cuda | tensorrt; default: cuda on a CUDA
        device, else cpu).
        """
        from srkd.device import pick_device

        request = OpenRequest(root=self.path, entry=entry, spec=self.spec, device=pick_device(device), threads=threads,
                              ort_ep=ort_ep, rebuild=self.rebuild_command())
        return BACKENDS.get(entry.backend).open(request)


def verify_artifact(folder: str | os.PathLike, entry: ArtifactEntry) -> Path:
    """The artifact's path, after checking it and its companions exist and match their SHA-256."""
    for companion in entry.companions:
        _verify_file(folder, companion.file, companion.sha256)
    return _verify_file(folder, entry.file, entry.sha256)


def _verify_file(folder: str | os.PathLike, file: str, sha256: str) -> Path:
    rel = Path(file)
    if not file or "\x00" in file or rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(f"{Path(folder) / MANIFEST_NAME}: artifact file {file!r} must be a path inside the bundle")
    path = Path(folder) / rel
    if not path.is_file():
        raise CheckpointError(f"{path}: listed in {MANIFEST_NAME} but missing")
    digest = sha256_file(path)
    if digest != sha256:
        raise CheckpointError(f"{path}: sha256 {digest[:12]}... does not match {MANIFEST_NAME}'s "
                              f"{sha256[:12]}... (the file changed after export)")
    return path


def load_bundle(path: str | os.PathLike, *, verify: bool = True) -> Bundle:
    """Read ``path/manifest.json`` (every backend must be one this srkd has); with ``verify`` check that
    every artifact exists and matches its SHA-256."""
    path = Path(path)
    manifest = read_manifest(path)
    for entry in manifest.artifacts:
        if entry.backend not in BACKENDS:
            raise CheckpointError(f"{path / MANIFEST_NAME}: artifact {entry.file}: backend {entry.backend!r} is not "
                                  f"one this srkd has ({', '.join(backend_names())})")
        if verify:
            verify_artifact(path, entry)
    return Bundle(path, manifest)
