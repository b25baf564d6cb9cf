"""Build a model from a foreign state dict: native layouts first, then spandrel; settle the input range."""
from __future__ import annotations

import inspect
import logging
import os
from typing import Any

import torch
from torch import nn

from srkd.errors import BackendUnavailableError, CheckpointError
from srkd.models import build_model
from srkd.models.keymaps import candidates, layout_names
from srkd.models.rangeprobe import probe_range, set_img_range

log = logging.getLogger(__name__)


def accepts_range(arch: str) -> bool:
    """Whether ``arch`` has an ``img_range`` hyperparameter (a value range it can be pointed at)."""
    from srkd.models import ARCHS

    return "img_range" in inspect.signature(ARCHS.get(arch).__init__).parameters


def state_mismatch(model: nn.Module, sd: dict[str, torch.Tensor]) -> str | None:
    """A short description of how ``sd`` fails to fit ``model`` (keys, shapes), or None when it fits."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    extra = sorted(set(sd) - set(own))
    shapes = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) ({', '.join(missing[:2])})")
    if extra:
        parts.append(f"{len(extra)} unexpected key(s) ({', '.join(extra[:2])})")
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} shape mismatch(es) ({k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)})")
    return "; ".join(parts) or None


def _settle_range(model: nn.Module, *, range_known: bool, input_range: float | None) -> str:
    if input_range is not None:
        return "user"
    if range_known:
        return "weights"
    verdict = probe_range(model, scale=model.scale)
    if verdict is None:
        return "default"
    set_img_range(model, verdict)
    return "probe"


def load_foreign(
    sd: dict[str, torch.Tensor], *, path: str | os.PathLike, hparams: dict[str, Any] | None = None,
    input_range: float | None = None,
) -> tuple[nn.Module, str]:
    """(model in eval mode with the weights loaded, value-range source) for a foreign state dict.

    Native layouts (keymaps.LAYOUTS) are tried in order; a layout whose marker keys match but whose
    weights do not fit is skipped. Then spandrel, when it is installed.
    """
    near: list[str] = []
    for arch, layout, convert in candidates(sd):
        try:
            hp, native = convert(sd)
        except CheckpointError as exc:
            near.append(f"{layout}: {exc}")
            continue
        range_known = "img_range" in hp
        hp.update(hparams or {})
        if input_range is not None:
            if not accepts_range(arch):
                raise CheckpointError(f"{path}: {arch} has no input-range setting, so --input-range cannot apply")
            hp["img_range"] = float(input_range)
        model = build_model(arch, hp)
        range_known = range_known or getattr(model, "range_fixed", False)
        problem = state_mismatch(model, native)
        if problem:
            near.append(f"{layout}: {problem}")
            continue
        model.load_state_dict(native, strict=True)
        model.eval()
        source = _settle_range(model, range_known=range_known, input_range=input_range)
        log.info("%s: %s layout, hparams %s, input range %s (%s)", path, layout, model.hparams,
                 getattr(model, "value_range", None), source)
        return model, source
    from srkd.models.spandrel_import import load_spandrel

    try:
        model = load_spandrel(sd, path=path, img_range=input_range)
    except BackendUnavailableError as exc:
        why = f"; near misses: {' | '.join(near)}" if near else ""
        sample = ", ".join(list(sd)[:3])
        raise CheckpointError(
            f"{path}: unrecognised state-dict layout (first keys: {sample}); native: {', '.join(layout_names())}; "
            f"for other architectures {exc}{why}"
        ) from None
    except CheckpointError as exc:
        if near:
            raise CheckpointError(f"{path}: weights do not fit: {' | '.join(near)}") from None
        raise CheckpointError(f"{exc}; native layouts: {', '.join(layout_names())}") from None
    return model, "user" if input_range is not None else "spandrel"
