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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from None
    check_manifest(manifest, source=str(path))
    return manifest


def _bad(source: str, where: str, expected: str, got: Any) -> CheckpointError:
    text = repr(got)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return CheckpointError(f"{source}: {where} must be {expected}, got {shown}")


def _check_latency(latency: Any, *, source: str, where: str) -> None:
    if not isinstance(latency, dict):
        raise _bad(source, where, "an object (cpu, gpu, threads, sizes)", latency)
    sizes = latency.get("sizes", [])
    if not isinstance(sizes, list):
        raise _bad(source, f"{where}.sizes", "a list of {size, p50_ms, ...}", sizes)
    for s in sizes:
        ok = isinstance(s, dict) and isinstance(s.get("size"), int) and not isinstance(s.get("size"), bool)
        p50 = s.get("p50_ms") if isinstance(s, dict) else None
        if not ok or not (p50 is None or (isinstance(p50, (int, float)) and not isinstance(p50, bool))):
            raise _bad(source, f"{where}.sizes[]", "{size: integer, p50_ms: number, ...}", s)


def _check_artifact(art: Any, i: int, *, source: str) -> None:
    if not isinstance(art, dict):
        raise _bad(source, f"artifact #{i}", "an object (file, sha256, backend, precision, ...)", art)
    missing = [k for k in ARTIFACT_KEYS if k not in art]
    if missing:
        raise CheckpointError(f"{source}: artifact #{i} lacks {', '.join(missing)}")
    if not isinstance(art["file"], str) or not art["file"]:
        raise _bad(source, f"artifact #{i} file", "a file name inside the bundle", art["file"])
    if not isinstance(art["sha256"], str):
        raise _bad(source, f"artifact {art['file']} sha256", "a hex digest", art["sha256"])
    if art["backend"] not in BACKENDS or art["precision"] not in PRECISIONS:
        raise CheckpointError(f"{source}: artifact {art['file']}: backend/precision {art['backend']!r}/"
                              f"{art['precision']!r} not among {BACKENDS} / {PRECISIONS}")
    for key in ("toolchain", "parity", "options", "check"):
        if art.get(key) is not None and not isinstance(art[key], dict):
            raise _bad(source, f"artifact {art['file']} {key}", "an object", art[key])
    check = art.get("check") or {}
    if not isinstance(check.get("parity") or {}, dict):
        raise _bad(source, f"artifact {art['file']} check.parity", "an object", check["parity"])
    for where, block in (("parity", art.get("parity") or {}), ("check.parity", check.get("parity") or {})):
        if not isinstance(block.get("passed", True), bool):
            raise _bad(source, f"artifact {art['file']} {where}.passed", "true or false", block["passed"])
    _check_latency(art["latency"] or {}, source=source, where=f"artifact {art['file']} latency")
    if check.get("latency") is not None:
        _check_latency(check["latency"], source=source, where=f"artifact {art['file']} check.latency")
    companions = art.get("companions", [])
    if not isinstance(companions, list) or not all(isinstance(c, dict) and isinstance(c.get("file"), str)
                                                   and isinstance(c.get("sha256"), str) for c in companions):
        raise _bad(source, f"artifact {art['file']} companions", "a list of {file, sha256}", companions)


def check_manifest(manifest: Any, *, source: str) -> None:
    """Every part of a manifest that srkd reads has the type it expects; CheckpointError naming the part."""
    from srkd.models.metadata import parse_spec

    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else type(manifest).__name__
        raise CheckpointError(f"{source}: format_version {found!r}, expected {FORMAT_VERSION}")
    for key in ("model", "artifacts"):
        if key not in manifest:
            raise CheckpointError(f"{source}: no {key!r} entry (expected keys format_version, model, artifacts)")
    parse_spec(manifest["model"], source=f"{source}: model", hparams=False)
    if not isinstance(manifest["artifacts"], list) or not manifest["artifacts"]:
        raise _bad(source, "artifacts", "a non-empty list", manifest["artifacts"])
    for i, art in enumerate(manifest["artifacts"]):
        _check_artifact(art, i, source=source)
    export = manifest.get("export") or {}
    flags = export.get("flags", []) if isinstance(export, dict) else export
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise _bad(source, "export.flags", "a list of command-line flags", flags)


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
