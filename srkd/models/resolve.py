"""Turn what a user typed (a shipped name, ``bicubic``, a file) into a model."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from srkd.errors import CheckpointError
from srkd.models import build_model, describe
from srkd.models.checkpoint import load_model
from srkd.models.spec import ModelSpec
from srkd.zoo import ZOO, zoo_path


def resolve_model(ref: str, *, scale: int | None = None, input_range: float | None = None) -> tuple[nn.Module, ModelSpec]:
    """``ref`` is ``bicubic``, a shipped model name, or a checkpoint path. Returns (model.eval(), spec).

    ``input_range`` (1 or 255) fixes the value range the network was trained on (see ``load_model``).
    """
    if ref.lower() == "bicubic":
        if input_range not in (None, 1, 1.0):
            raise CheckpointError("bicubic has no input-range setting, so --input-range cannot apply")
        model = build_model("bicubic", {"scale": scale or 4})
        return model.eval(), describe(model)
    if ref in ZOO:
        model, spec = load_model(zoo_path(ref), input_range=input_range)
    elif Path(ref).exists():
        model, spec = load_model(ref, input_range=input_range)
    else:
        raise CheckpointError(f"{ref}: neither a file nor a shipped model (shipped: {', '.join(ZOO.names())}, bicubic)")
    if scale is not None and spec.scale != scale:
        raise CheckpointError(f"{ref}: model scale is x{spec.scale}, but --scale {scale} was asked for")
    return model, spec
