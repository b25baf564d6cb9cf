"""A bare srkd ``.onnx`` file outside a bundle: its ``srkd`` metadata says what the model is."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkd.bundle.manifest import PRECISIONS
from srkd.errors import BackendUnavailableError, CheckpointError, one_line
from srkd.models.metadata import parse_spec

if TYPE_CHECKING:
    import torch

    from srkd.backends.onnxruntime.runner import OrtRunner


def onnx_metadata(path: Path) -> dict[str, Any]:
    """The ``srkd`` metadata JSON of an ONNX file (written by ``srkd export``); CheckpointError when absent."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        why = one_line(str(exc).strip(), limit=200) or type(exc).__name__
        raise CheckpointError(f"{path}: not a readable ONNX file ({why})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if "srkd" not in props:
        raise CheckpointError(f"{path}: an ONNX file without srkd metadata (key 'srkd'), so its scale and size "
                              "requirements are unknown; pass the bundle folder or re-export it with `srkd export`")
    try:
        meta = json.loads(props["srkd"])
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: the ONNX metadata key 'srkd' does not hold JSON (expected the object srkd "
                              "export writes: arch, hparams, scale, ...)") from None
    parse_spec(meta, source=f"{path} (ONNX metadata)", hparams=False)
    return meta


def open_onnx_file(path: Path, device: torch.device, threads: int | None) -> OrtRunner:
    """An inactive ONNX Runtime runner for the srkd ``.onnx`` file ``path`` (CUDA provider on a CUDA device)."""
    from srkd.backends.onnxruntime.runner import OrtRunner, available_kinds, execution_providers

    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    meta = onnx_metadata(path)
    spec = parse_spec(meta, source=f"{path} (ONNX metadata)", hparams=False)
    precision = meta["precision"] if meta.get("precision") in PRECISIONS else "fp32"
    providers = None
    if device.type == "cuda":
        if "cuda" not in available_kinds():
            raise BackendUnavailableError(f"{path}: onnxruntime has no CUDAExecutionProvider "
                                          "(pip install onnxruntime-gpu, alone: not beside onnxruntime)")
        providers = execution_providers("cuda", precision=precision, device_id=device.index or 0)
    return OrtRunner(path, spec=spec, precision=precision, threads=threads, providers=providers)
