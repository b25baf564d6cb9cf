"""Recognise foreign state-dict layouts and map them onto srkd's native (official) key names.

Each converter returns ``(hparams, state_dict)``; it leaves ``img_range`` out of the hyperparameters
when the weights do not say which value range the network was trained on (the loader then guesses).
"""
from __future__ import annotations

import re
from typing import Any

from srkd.errors import CheckpointError
from srkd.models import keymaps_efficient as eff
from srkd.models import keymaps_more as more
from srkd.models.edsr import DIV2K_MEAN
from srkd.models.keymaps_more import Converter, StateDict


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
    """Official EDSR (``head.0``, ``body.i.body.0``, ``tail.0.0``): keys kept, mean and range read from ``sub_mean``."""
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.body\.0\.weight$", k))}
    n_blocks = len(blocks)
    ups = sorted(k for k in sd if re.match(r"tail\.0\.\d+\.weight$", k))
    hp = _edsr_hparams(
        sd, n_feats=sd["head.0.weight"].shape[0], n_blocks=n_blocks, n_up=len(ups),
        up_ch=sd[ups[0]].shape[0], out_ch=sd["tail.1.weight"].shape[0], in_ch=sd["head.0.weight"].shape[1],
    )
    hp.update(more.mean_and_range(sd) or {"rgb_mean": list(DIV2K_MEAN)})
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


# (arch, layout name, keys that must all be present, converter); more specific layouts first
LAYOUTS: list[tuple[str, str, tuple[str, ...], Converter]] = [
    ("rcan", "official RCAN", ("head.0.weight", "body.0.body.0.body.3.conv_du.0.weight"), more.rcan_official),
    ("rcan", "BasicSR RCAN", ("conv_first.weight", "body.0.residual_group.0.rcab.0.weight"), more.rcan_basicsr),
    ("edsr", "official EDSR", ("head.0.weight", "body.0.body.0.weight", "tail.1.weight"), edsr_official),
    ("edsr", "BasicSR EDSR", ("conv_first.weight", "body.0.conv1.weight", "conv_after_body.weight"), edsr_basicsr),
    ("swinir", "SwinIR", ("conv_first.weight", "layers.0.residual_group.blocks.0.attn.relative_position_bias_table"),
     more.swinir),
    ("imdn", "official IMDN", ("fea_conv.weight", "IMDB1.c1.weight", "upsampler.0.weight"), more.imdn),
    ("rfdn", "official RFDN", ("fea_conv.weight", "B1.c1_d.weight", "B1.esa.conv1.weight", "upsampler.0.weight"),
     more.rfdn),
    ("span", "SPAN (training layout)", ("conv_1.sk.weight", "block_1.c1_r.sk.weight", "conv_cat.weight",
                                        "upsampler.0.weight"), eff.span_branches),
    ("span", "SPAN (folded convolutions)", ("conv_1.eval_conv.weight", "block_1.c1_r.eval_conv.weight",
                                            "conv_cat.weight", "upsampler.0.weight"), eff.span_folded),
    ("compact", "Real-ESRGAN Compact", ("body.0.weight", "body.2.weight"), eff.compact),  # last: the loosest markers
]


def layout_names() -> list[str]:
    """Names of the layouts srkd reads natively."""
    return [name for _, name, _, _ in LAYOUTS]


def candidates(sd: StateDict) -> list[tuple[str, str, Converter]]:
    """(arch, layout name, converter) for every native layout whose marker keys are all in ``sd``."""
    return [(arch, name, conv) for arch, name, keys, conv in LAYOUTS if all(k in sd for k in keys)]


def detect(sd: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """Return (arch, hparams, native state dict) of the first matching layout, or raise CheckpointError."""
    for arch, _, convert in candidates(sd):
        hp, out = convert(sd)
        return arch, hp, out
    sample = ", ".join(list(sd)[:4])
    raise CheckpointError(f"unrecognised state-dict layout (first keys: {sample}); known: {', '.join(layout_names())}")
