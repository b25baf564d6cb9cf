"""``manifest.json``: the typed manifest of a bundle, read and checked once, written once.

On disk (strict JSON, written atomically)::

    {"format_version": 1, "srkd_version": ..., "created": ISO-8601 UTC,
     "model": {checkpoint metadata: arch, hparams, scale, channels, value_range, size_req, ...},
     "parity_data": {"source", "images", "crop", "lr"}, "thresholds": {per precision},
     "artifacts": [{"file", "sha256", "bytes", "backend", "precision", "io", "toolchain",
                    "parity": {...}, "latency": {...}, "companions"?, "runs_in",
                    "options" | "conversion" | "quantization" | "engine"?, "check"?}, ...],
     "export": {"flags": [...], "skipped": [...], "spandrel"?: {"file", "sha256", "architecture", ...}}}

``read_manifest`` turns that into a ``Manifest``; an unknown ``format_version``, a missing field or a
value of the wrong kind is one CheckpointError line naming the file and the field.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkd.bundle.record import Record, RecordError, optional
from srkd.bundle.records import Companion, CheckRecord, Engine, Latency, Parity, Quantization
from srkd.errors import CheckpointError
from srkd.fsutil import atomic_write_text, json_safe

if TYPE_CHECKING:
    from srkd.models.spec import ModelSpec

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
STUDENT_FILE = "student.safetensors"  # every bundle's torch fp32 student: the reference and what rebuilds it
PRECISIONS = ("fp32", "bf16", "fp16", "int8")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArtifactEntry(Record):
    """One artifact: its file and hash, what runs it, and what was measured for it.

    ``options`` (torch), ``conversion`` (fp16 ONNX, OpenVINO IR), ``quantization`` (int8) and ``engine``
    (TensorRT) say how it was made; a plug-in backend's own records stay in ``other``.
    """

    file: str
    sha256: str
    bytes: int | None = optional()
    backend: str
    precision: str
    io: dict[str, Any] = optional(factory=dict)
    toolchain: dict[str, Any]
    parity: Parity
    latency: Latency
    companions: tuple[Companion, ...] = optional(())
    runs_in: str | None = optional()
    options: dict[str, Any] | None = optional()
    conversion: dict[str, Any] | None = optional()
    quantization: Quantization | None = optional()
    engine: Engine | None = optional()
    check: CheckRecord | None = optional()

    @property
    def key(self) -> str:
        """``backend:precision``, how commands and errors name an artifact."""
        return f"{self.backend}:{self.precision}"

    @property
    def passed(self) -> bool:
        """Whether it passed parity at export and, when re-checked, at its last ``srkd check``."""
        return self.parity.passed and (self.check is None or self.check.parity.passed)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParityData(Record):
    """The real images parity was measured on at export."""

    source: str
    images: tuple[str, ...] = ()
    crop: int | None = None
    lr: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Skipped(Record):
    """An artifact export was asked for and could not make here, and why."""

    artifact: str
    why: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpandrelFile(Record):
    """``--spandrel``'s file for spandrel (chaiNNer, ComfyUI): the architecture spandrel detects in it, the
    spandrel version that read it back at export (None where it did not import) and each reading's parity."""

    file: str
    sha256: str
    bytes: int | None = None
    architecture: str
    spandrel: str | None = None
    parity: tuple[Parity, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportRecord(Record):
    """The ``srkd export`` flags that rebuild the bundle, what was skipped, and the file for spandrel."""

    flags: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    spandrel: SpandrelFile | None = optional()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """A bundle's ``manifest.json`` (see the module docstring)."""

    format_version: int
    srkd_version: str | None = optional()
    created: str | None = optional()
    model: dict[str, Any]
    parity_data: ParityData | None = optional()
    thresholds: dict[str, Any] | None = optional()
    artifacts: tuple[ArtifactEntry, ...]
    export: ExportRecord | None = optional()

    @functools.cached_property
    def spec(self) -> ModelSpec:
        """The model's descriptor (arch, scale, channels, size requirement), every field checked."""
        from srkd.models.metadata import parse_spec

        return parse_spec(self.model, source="manifest model", hparams=False)

    @classmethod
    def parse(cls, data: Any, *, path: str | os.PathLike) -> "Manifest":
        """Check ``data`` (the parsed JSON) and type it; CheckpointError naming ``path`` and the field."""
        found = data.get("format_version") if isinstance(data, dict) else type(data).__name__
        if found != FORMAT_VERSION:
            raise CheckpointError(f"{path}: format_version {found!r}, expected {FORMAT_VERSION}")
        from srkd.models.metadata import parse_spec

        try:
            manifest = cls.from_dict(data)
        except RecordError as exc:
            raise CheckpointError(f"{path}: {_name_artifact(str(exc), data)}") from None
        manifest.__dict__["spec"] = parse_spec(manifest.model, source=f"{path}: model", hparams=False)
        if not manifest.artifacts:
            raise CheckpointError(f"{path}: artifacts must be a non-empty list (a bundle holds at least its student)")
        for art in manifest.artifacts:
            if art.precision not in PRECISIONS:
                raise CheckpointError(f"{path}: artifact {art.file}: precision {art.precision!r} not among "
                                      f"{', '.join(PRECISIONS)}")
        return manifest


def _name_artifact(message: str, data: dict[str, Any]) -> str:
    """``artifacts[2]: ...`` -> ``artifacts[2] (model.int8.onnx): ...`` when that entry names its file."""
    match = re.match(r"artifacts\[(\d+)\]", message)
    if match:
        art = (data.get("artifacts") or [None] * (int(match[1]) + 1))[int(match[1])]
        if isinstance(art, dict) and isinstance(art.get("file"), str):
            return f"{match[0]} ({art['file']}){message[match.end():]}"
    return message


def read_manifest(folder: str | os.PathLike) -> Manifest:
    """Read and check ``folder/manifest.json``; CheckpointError naming the file and what was expected."""
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise CheckpointError(f"{folder}: no such bundle folder (expected a folder made by `srkd export`)")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; not a bundle (expected a folder made by `srkd export`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from None
    return Manifest.parse(data, path=path)


def write_manifest(folder: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``folder/manifest.json`` atomically as strict JSON (non-finite numbers as null); returns its path."""
    path = Path(folder) / MANIFEST_NAME
    atomic_write_text(path, json.dumps(json_safe(manifest.to_dict()), indent=2, allow_nan=False) + "\n")
    return path
