"""Write a SPAN or Compact student as a ``.pth`` that spandrel (chaiNNer, ComfyUI) loads unchanged.

What spandrel 0.4.2 needs to see, and so what can be written:

- SPAN is detected only when the branch keys (``conv_1.sk``, ``block_1.c1_r.sk``, ``conv_2.sk``) and
  the folded ``eval_conv`` keys are both present; spandrel then recomputes every ``eval_conv`` from
  the branches. So the file holds the branches (a folded-only model gets exact identity branches,
  ``SPAN.unfolded``) and, beside them, their fold. spandrel builds six blocks, reads the width and
  the input channels from ``conv_1.sk.weight``, the scale and output channels from
  ``upsampler.0.weight``'s channel count (scale^2 x out, trying out = in first), and fixes the
  normalisation to the DIV2K mean and range 255, or none when the file holds ``no_norm``.
- Compact is detected by ``body.0.weight`` and ``body.1.weight``; the depth comes from the highest
  ``body`` index and the scale from the last conv's channels; the activation is always PReLU.

``spandrel_problem`` says which of a model's settings spandrel cannot express (None: it can all).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from srkd.errors import ConfigError
from srkd.fsutil import atomic_save
from srkd.models.edsr import DIV2K_MEAN
from srkd.models.repconv import BranchConv

SPANDREL_ARCHS = {"span": "SPAN", "compact": "Compact"}  # srkd arch -> spandrel's architecture id
WHAT_FITS = ("SPAN with 6 blocks (any feature_channels; norm with the DIV2K mean and img_range 255, or norm=false) "
             "and Compact with PReLU (any num_feat, num_conv)")


def _spandrel_shuffle(channels: int, in_channels: int) -> tuple[int, int] | None:
    """(scale, out channels) spandrel reads from a pixel-shuffle conv's ``channels``."""
    for c in (in_channels, 3, 4, 1):
        root = math.isqrt(channels // c)
        if channels % c == 0 and root * root == channels // c:
            return root, c
    return None


def spandrel_problem(model: nn.Module) -> str | None:
    """What spandrel 0.4.2 could not rebuild of ``model`` as it is, or None when it can rebuild all of it."""
    arch, hp = getattr(model, "arch", None), dict(getattr(model, "hparams", {}))
    if arch not in SPANDREL_ARCHS:
        return f"{arch} is not an architecture srkd writes for spandrel"
    shuffle = hp["out_channels"] * hp["scale"] ** 2
    if _spandrel_shuffle(shuffle, hp["in_channels"]) != (hp["scale"], hp["out_channels"]):
        return (f"spandrel would read {hp['in_channels']} -> {hp['out_channels']} channels at x{hp['scale']} "
                f"as {_spandrel_shuffle(shuffle, hp['in_channels'])} (scale, out channels)")
    if arch == "compact":
        return None if hp["act"] == "prelu" else f"act={hp['act']} (spandrel's Compact always has PReLU)"
    if hp["n_blocks"] != 6:
        return f"n_blocks={hp['n_blocks']} (spandrel's SPAN always has 6 blocks)"
    if hp["norm"] and (hp["img_range"] != 255.0 or any(abs(a - b) > 1e-6 for a, b in zip(hp["rgb_mean"], DIV2K_MEAN))):
        return (f"img_range={hp['img_range']:g}, rgb_mean={hp['rgb_mean']} (spandrel's SPAN normalises with the "
                "DIV2K mean and 255, or not at all with norm=false)")
    return None


def require_expressible(model: nn.Module, *, source: str = "") -> None:
    """ConfigError (naming ``source`` when given) saying why spandrel could not rebuild ``model``."""
    problem = spandrel_problem(model)
    if problem:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}cannot write this {getattr(model, 'arch', '?')} for spandrel: {problem}; "
                          f"spandrel 0.4.2 loads {WHAT_FITS}")


def spandrel_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights in the layout spandrel detects (fp32, CPU); ConfigError when it cannot express it."""
    require_expressible(model)
    if model.arch == "span":
        model = model.unfolded()
    sd = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if isinstance(module, BranchConv):
            weight, bias = module.folded_weights()
            sd[f"{name}.eval_conv.weight"] = weight.float().cpu().contiguous()
            sd[f"{name}.eval_conv.bias"] = bias.float().cpu().contiguous()
    return sd


def spandrel_file_name(model: nn.Module) -> str:
    """``<arch>_x<scale>.pth``, e.g. ``span_x4.pth``."""
    return f"{model.arch}_x{model.scale}.pth"


def save_spandrel(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model`` to ``path`` (a ``.pth`` state dict, no wrapper) for spandrel, atomically."""
    sd = spandrel_state_dict(model)
    atomic_save(path, lambda tmp: torch.save(sd, str(tmp)))
    return Path(path)
