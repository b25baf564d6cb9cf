"""``manifest.json`` of a bundle: building, writing (strict JSON, atomic), reading and verifying it.

Layout (DESIGN.md, "Manifest")::

    {"format_version": 1, "srkd_version": ..., "created": ISO-8601 UTC,
     "model": {checkpoint metadata: arch, hparams, scale, channels, value_range, size_req, ...},
     "parity_data": {"source", "images", "crop"}, "thresholds": {per precision},
     "artifacts": [{"file", "sha256", "bytes", "backend", "precision", "io", "toolchain",
                    "parity": {...}, "latency": {...}}, ...]}
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from srkd import __version__
from srkd.errors import CheckpointError
from srkd.fsutil import atomic_write_text

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
ARTIFACT_KEYS = ("file", "sha256", "backend", "precision", "toolchain", "parity", "latency")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def toolchain(backend: str, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions of what builds and runs an artifact of ``backend`` (plus ``extra``, e.g. the opset)."""
    import torch

    info: dict[str, Any] = {"srkd": __version__, "python": platform.python_version(), "numpy": np.__version__,
                            "torch": torch.__version__}
    if backend == "onnxruntime":
        import onnx
        import onnxruntime

        info.update(onnx=onnx.__version__, onnxruntime=onnxruntime.__version__)
    info.update(extra or {})
    return info


def artifact_entry(
    *, root: Path, file: str, backend: str, precision: str, model: dict[str, Any], io: dict[str, Any],
    toolchain: dict[str, Any], parity: dict[str, Any], latency: dict[str, Any], companions: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``artifacts`` item for ``root / file``; its hash and size are taken from the file now.

    ``companions``: files the artifact needs beside it (an OpenVINO IR's ``.bin``), hashed the same way.
    """
    path = root / file
    entry = {
        "file": file, "sha256": sha256_file(path), "bytes": path.stat().st_size, "backend": backend,
        "precision": precision,
        "io": {
            **io, "layout": "NCHW", "dtype": "float32", "scale": model["scale"],
            "in_channels": model.get("in_channels", 3), "out_channels": model.get("out_channels", 3),
            "value_range": [0.0, 1.0],  # every srkd graph takes [0, 1]; model.value_range is the network's own
            "size_req": model.get("size_req", {}),
        },
        "toolchain": toolchain, "parity": parity, "latency": latency,
    }
    if companions:
        entry["companions"] = [{"file": c, "sha256": sha256_file(root / c), "bytes": (root / c).stat().st_size}
                               for c in companions]
    return entry


def build_manifest(
    *, model: dict[str, Any], artifacts: list[dict[str, Any]], parity_data: dict[str, Any],
    thresholds: dict[str, Any],
) -> dict[str, Any]:
    """The whole manifest object."""
    return {
        "format_version": FORMAT_VERSION, "srkd_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model, "parity_data": parity_data, "thresholds": thresholds, "artifacts": artifacts,
    }


def json_safe(obj: Any) -> Any:
    """Replace non-finite floats (anywhere in nested dicts/lists) by None, so the JSON stays strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write ``folder/manifest.json`` atomically as strict JSON; returns its path."""
    path = Path(folder) / MANIFEST_NAME
    atomic_write_text(path, json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n")
    return path


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``folder/manifest.json``; CheckpointError naming the file and what was expected."""
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise CheckpointError(f"{folder}: no such bundle folder (expected a folder made by `srkd export`)")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; not a bundle (expected a folder made by `srkd export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else type(manifest).__name__
        raise CheckpointError(f"{path}: format_version {found!r}, expected {FORMAT_VERSION}")
    for key in ("model", "artifacts"):
        if key not in manifest:
            raise CheckpointError(f"{path}: no {key!r} entry (expected keys format_version, model, artifacts)")
    for i, art in enumerate(manifest["artifacts"]):
        missing = [k for k in ARTIFACT_KEYS if k not in art]
        if missing:
            raise CheckpointError(f"{path}: artifact #{i} lacks {', '.join(missing)}")
        if art["backend"] not in BACKENDS or art["precision"] not in PRECISIONS:
            raise CheckpointError(f"{path}: artifact {art['file']}: backend/precision {art['backend']}/"
                                  f"{art['precision']} not among {BACKENDS} / {PRECISIONS}")
    return manifest


def verify_artifact(folder: str | os.PathLike, entry: dict[str, Any]) -> Path:
    """The artifact's path, after checking it and its companions exist and match their SHA-256."""
    for companion in entry.get("companions", []):
        _verify_file(folder, companion)
    return _verify_file(folder, entry)


def _verify_file(folder: str | os.PathLike, entry: dict[str, Any]) -> Path:
    rel = Path(entry["file"])
    if rel.is_absolute() or ".." in rel.parts:
        raise CheckpointError(f"{Path(folder) / MANIFEST_NAME}: artifact file {entry['file']!r} must be a path inside the bundle")
    path = Path(folder) / rel
    if not path.is_file():
        raise CheckpointError(f"{path}: listed in {MANIFEST_NAME} but missing")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CheckpointError(f"{path}: sha256 {digest[:12]}... does not match {MANIFEST_NAME}'s "
                              f"{entry['sha256'][:12]}... (the file changed after export)")
    return path
