"""Recognise foreign state-dict layouts and map them onto srkd's native (official) key names."""
from __future__ import annotations

import re
from typing import Any

import torch

from srkd.errors import CheckpointError
from srkd.models.edsr import DIV2K_MEAN

StateDict = dict[str, torch.Tensor]


def _edsr_hparams(sd: StateDict, *, n_feats: int, n_blocks: int, n_up: int, up_ch: int, out_ch: int, in_ch: int) -> dict[str, Any]:
    if up_ch == 9 * n_feats and n_up == 1:
        scale = 3
    elif up_ch == 4 * n_feats:
        scale = 2**n_up
    else:
        raise CheckpointError(f"upsampler with {up_ch} channels does not match n_feats={n_feats}")
    return dict(scale=scale, n_feats=n_feats, n_blocks=n_blocks, res_scale=0.1 if n_feats >= 256 else 1.0,
                in_channels=in_ch, out_channels=out_ch)


def edsr_official(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Official EDSR (``head.0``, ``body.i.body.0``, ``tail.0.0``): keys kept, mean read from ``sub_mean``."""
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.body\.0\.weight$", k))}
    n_blocks = len(blocks)
    ups = sorted(k for k in sd if re.match(r"tail\.0\.\d+\.weight$", k))
    hp = _edsr_hparams(
        sd, n_feats=sd["head.0.weight"].shape[0], n_blocks=n_blocks, n_up=len(ups),
        up_ch=sd[ups[0]].shape[0], out_ch=sd["tail.1.weight"].shape[0], in_ch=sd["head.0.weight"].shape[1],
    )
    if "sub_mean.bias" in sd:
        hp["rgb_mean"] = [round(float(v), 6) for v in (-sd["sub_mean.bias"] / 255.0)]
    else:
        hp["rgb_mean"] = list(DIV2K_MEAN)
    out = {k: v for k, v in sd.items() if not k.startswith(("sub_mean.", "add_mean."))}
    return hp, out


def edsr_basicsr(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """BasicSR's EDSR (``conv_first``, ``body.i.conv1``, ``upsample.j``, ``conv_last``) -> official keys."""
    n_blocks = len({k.split(".")[1] for k in sd if re.match(r"body\.\d+\.conv1\.weight$", k)})
    ups = sorted((k for k in sd if re.match(r"upsample\.\d+\.weight$", k)), key=lambda k: int(k.split(".")[1]))
    out: StateDict = {}
    for k, v in sd.items():
        if k.startswith("conv_first."):
            nk = "head.0." + k.split(".", 1)[1]
        elif m := re.match(r"body\.(\d+)\.conv([12])\.(weight|bias)$", k):
            nk = f"body.{m.group(1)}.body.{0 if m.group(2) == '1' else 2}.{m.group(3)}"
        elif k.startswith("conv_after_body."):
            nk = f"body.{n_blocks}." + k.split(".", 1)[1]
        elif m := re.match(r"upsample\.(\d+)\.(weight|bias)$", k):
            nk = f"tail.0.{m.group(1)}.{m.group(2)}"
        elif k.startswith("conv_last."):
            nk = "tail.1." + k.split(".", 1)[1]
        else:
            raise CheckpointError(f"unexpected key {k!r} in a BasicSR EDSR state dict")
        out[nk] = v
    hp = _edsr_hparams(
        out, n_feats=out["head.0.weight"].shape[0], n_blocks=n_blocks, n_up=len(ups),
        up_ch=sd[ups[0]].shape[0], out_ch=out["tail.1.weight"].shape[0], in_ch=out["head.0.weight"].shape[1],
    )
    hp["rgb_mean"] = list(DIV2K_MEAN)
    return hp, out


# (arch, marker key that identifies the layout, converter)
LAYOUTS = [
    ("edsr", "head.0.weight", "tail.1.weight", edsr_official),
    ("edsr", "conv_first.weight", "conv_after_body.weight", edsr_basicsr),
]


def detect(sd: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """Return (arch, hparams, native state dict) for a foreign state dict, or raise CheckpointError."""
    for arch, key_a, key_b, convert in LAYOUTS:
        if key_a in sd and key_b in sd:
            hp, out = convert(sd)
            return arch, hp, out
    sample = ", ".join(list(sd)[:4])
    raise CheckpointError(f"unrecognised state-dict layout (first keys: {sample}); known: official EDSR, BasicSR EDSR")
