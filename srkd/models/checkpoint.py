"""Checkpoint I/O: srkd safetensors (weights + metadata), BasicSR/official ``.pth``; never executes code."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from srkd.errors import CheckpointError, one_line
from srkd.fsutil import atomic_save
from srkd.models import describe
from srkd.models.foreign import accepts_range, load_foreign
from srkd.models.metadata import parse_spec
from srkd.models.safebuild import build_checked, stored_shapes
from srkd.models.spec import ModelSpec

log = logging.getLogger(__name__)
META_KEY = "srkd"


def save_model(
    path: str | os.PathLike, model: nn.Module, *, provenance: dict[str, Any] | None = None,
    weights: str = "ema", state_dict: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Write ``model`` (or ``state_dict`` for it) as safetensors with the ``srkd`` metadata, atomically;
    returns that metadata as a reader of the file will see it."""
    meta = describe(model).to_dict()
    meta["weights"] = weights
    meta["provenance"] = dict(provenance or {})
    sd = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sd.items()}
    text = json.dumps(meta)
    atomic_save(path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: text}))
    return json.loads(text)


def _srkd_metadata(path: str | os.PathLike) -> Any:
    """The decoded ``srkd`` metadata of a safetensors file, None when the file has none."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({one_line(str(exc), limit=200)})") from None
    if META_KEY not in meta:
        return None
    try:
        return json.loads(meta[META_KEY])
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: the safetensors metadata key {META_KEY!r} does not hold JSON "
                              "(expected the object srkd writes: arch, hparams, scale, ...)") from None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``srkd`` metadata of a safetensors file; CheckpointError when missing, not JSON or not an object."""
    meta = _srkd_metadata(path)
    if meta is None:
        raise CheckpointError(f"{path}: safetensors file without srkd metadata (expected key {META_KEY!r})")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: srkd metadata must be a JSON object (arch, hparams, scale, ...), "
                              f"got {type(meta).__name__}")
    return meta


def _load_state(model: nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not fit {model.arch}: {' '.join(first[:3])[:300]}") from None


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``, its refusals said plainly (nothing in the file is ever run)."""
    if path.suffix.lower() == ".onnx":
        raise CheckpointError(f"{path}: an ONNX file; this needs the PyTorch weights (.safetensors, .pth): use the "
                              "bundle's student.safetensors, or run the ONNX file with `srkd upscale -m FILE.onnx`")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (expected a torch.save zip archive or pickle, "
                              ".safetensors, or an srkd bundle)")
    try:
        with warnings.catch_warnings():  # the unpickler's protocol notes would precede our one line
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(f"{path}: this file contains pickled code ({found.group(1)}); srkd loads weights "
                                  "only, so it was refused and nothing in it was run") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint srkd can read: its pickle holds more than tensors "
                              "and plain containers (a weights-only load refuses it; nothing in it was run)") from None
    except Exception as exc:  # noqa: BLE001 - a damaged archive fails in zipfile, torch or pickle, in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint ({one_line(first, limit=200)})") from None


def _foreign_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    obj = _torch_load(path)
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict (optionally under params_ema/params), got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A loaded checkpoint: the model (eval mode), its spec, and its srkd metadata (None for a foreign file)."""

    model: nn.Module
    spec: ModelSpec
    metadata: dict[str, Any] | None


def load_checkpoint(
    path: str | os.PathLike, *, hparams: dict[str, Any] | None = None, input_range: float | None = None,
) -> Checkpoint:
    """Load a model from an srkd safetensors file or a foreign checkpoint (see ``load_model``), keeping
    the file's srkd metadata when it has some."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        meta = _srkd_metadata(path)
        if meta is not None:
            spec = parse_spec(meta, source=str(path))
            hp = {**spec.hparams, **(hparams or {})}
            if input_range is not None:
                hp["img_range"] = _range_hparam(spec.arch, input_range, path)
            model = build_checked(spec.arch, hp, stored=stored_shapes(path), source=str(path))
            _load_state(model, load_file(str(path)), path)
            source = "user" if input_range is not None else "recorded"
            return Checkpoint(model=model.eval(), spec=dataclasses.replace(describe(model), value_range_source=source),
                              metadata=meta)
    model, source = load_foreign(_foreign_state_dict(path), path=path, hparams=hparams, input_range=input_range)
    return Checkpoint(model=model, spec=dataclasses.replace(describe(model), value_range_source=source), metadata=None)


def load_model(
    path: str | os.PathLike, *, hparams: dict[str, Any] | None = None, input_range: float | None = None,
) -> tuple[nn.Module, ModelSpec]:
    """Load a model from an srkd safetensors file or a foreign checkpoint; returns (model in eval mode, spec).

    ``input_range`` (1 or 255) sets the value range the network runs on, overriding what the file says
    or what srkd would guess; ``spec.value_range_source`` tells where the range came from.
    """
    ckpt = load_checkpoint(path, hparams=hparams, input_range=input_range)
    return ckpt.model, ckpt.spec


def _range_hparam(arch: str, value: float, path: Path) -> float:
    if not accepts_range(arch):
        raise CheckpointError(f"{path}: {arch} has no input-range setting, so --input-range cannot apply")
    return float(value)
