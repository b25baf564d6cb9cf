"""Turn what a user typed (a shipped name, ``bicubic``, a file) into a model."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from srkd.errors import CheckpointError
from srkd.models import build_model, describe
from srkd.models.checkpoint import load_model
from srkd.models.spec import ModelSpec
from srkd.zoo import ZOO, zoo_path


def resolve_model(ref: str, *, scale: int | None = None) -> tuple[nn.Module, ModelSpec]:
    """``ref`` is ``bicubic``, a shipped model name, or a checkpoint path. Returns (model.eval(), spec)."""
    if ref.lower() == "bicubic":
        model = build_model("bicubic", {"scale": scale or 4})
        return model.eval(), describe(model)
    if ref in ZOO:
        model, spec = load_model(zoo_path(ref))
    elif Path(ref).exists():
        model, spec = load_model(ref)
    else:
        raise CheckpointError(f"{ref}: neither a file nor a shipped model (shipped: {', '.join(ZOO.names())}, bicubic)")
    if scale is not None and spec.scale != scale:
        raise CheckpointError(f"{ref}: model scale is x{spec.scale}, but --scale {scale} was asked for")
    return model, spec
