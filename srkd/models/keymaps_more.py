"""Layout converters for RCAN (official, BasicSR), SwinIR, IMDN and RFDN, plus the helpers they share."""
from __future__ import annotations

import math
import re
from typing import Any, Callable

import torch

from srkd.errors import CheckpointError

StateDict = dict[str, torch.Tensor]
Converter = Callable[[StateDict], "tuple[dict[str, Any], StateDict]"]


def count(sd: StateDict, pattern: str) -> int:
    """How many distinct values the first group of ``pattern`` takes over the keys of ``sd``."""
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def pixelshuffle_scale(channels: int, out_channels: int) -> int:
    """The scale of a conv + pixel shuffle producing ``out_channels`` from ``channels`` = out * s^2."""
    s = round(math.sqrt(channels / out_channels))
    if s < 1 or out_channels * s * s != channels:
        raise CheckpointError(f"upsampler with {channels} channels is not {out_channels} x scale^2")
    return s


def staged_scale(sd: StateDict, pattern: str, n_feat: int) -> int:
    """Scale of an EDSR-style upsampler: log2(s) convs of 4*n_feat channels, or one of 9*n_feat (x3)."""
    keys = [k for k in sd if re.match(pattern, k)]
    if len(keys) == 1 and sd[keys[0]].shape[0] == 9 * n_feat:
        return 3
    if keys and all(sd[k].shape[0] == 4 * n_feat for k in keys):
        return 2 ** len(keys)
    raise CheckpointError(f"upsampler convs {sorted(keys)} do not match {n_feat} features")


def mean_and_range(sd: StateDict, prefix: str = "sub_mean") -> dict[str, Any]:
    """Mean and value range from an official MeanShift conv (bias = -range * mean / std), when present."""
    if f"{prefix}.bias" not in sd:
        return {}
    bias = sd[f"{prefix}.bias"].float()
    std = 1.0 / sd[f"{prefix}.weight"].float().flatten(1).diagonal() if f"{prefix}.weight" in sd else 1.0
    img_range = 255.0 if float(bias.abs().max()) > 2.0 else 1.0
    return {"rgb_mean": [round(float(v), 6) for v in (-bias * std / img_range)], "img_range": img_range}


def rcan_official(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Official RCAN (``body.g.body.b.body.3.conv_du``): keys kept; mean and range read from ``sub_mean``."""
    n_feats = sd["head.0.weight"].shape[0]
    hp: dict[str, Any] = dict(
        scale=staged_scale(sd, r"tail\.0\.\d+\.weight$", n_feats),
        n_resgroups=count(sd, r"body\.(\d+)\.body\.0\.body\.0\.weight$"),
        n_resblocks=count(sd, r"body\.0\.body\.(\d+)\.body\.0\.weight$"),
        n_feats=n_feats, reduction=n_feats // sd["body.0.body.0.body.3.conv_du.0.weight"].shape[0],
        in_channels=sd["head.0.weight"].shape[1], out_channels=sd["tail.1.weight"].shape[0],
    )
    hp.update(mean_and_range(sd))
    return hp, {k: v for k, v in sd.items() if not k.startswith(("sub_mean.", "add_mean."))}


def rcan_basicsr(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """BasicSR's RCAN (``residual_group.j.rcab``, ``attention.{1,3}``) -> official keys."""
    groups = count(sd, r"body\.(\d+)\.residual_group\.0\.rcab\.0\.weight$")
    blocks = count(sd, r"body\.0\.residual_group\.(\d+)\.rcab\.0\.weight$")
    rules = [
        (r"conv_first\.", "head.0."),
        (r"body\.(\d+)\.residual_group\.(\d+)\.rcab\.([02])\.", r"body.\1.body.\2.body.\3."),
        (r"body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.", r"body.\1.body.\2.body.3.conv_du.0."),
        (r"body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.", r"body.\1.body.\2.body.3.conv_du.2."),
        (r"body\.(\d+)\.conv\.", rf"body.\1.body.{blocks}."),
        (r"conv_after_body\.", f"body.{groups}."),
        (r"upsample\.(\d+)\.", r"tail.0.\1."),
        (r"conv_last\.", "tail.1."),
    ]
    out: StateDict = {}
    for k, v in sd.items():
        for pattern, repl in rules:
            nk, n = re.subn("^" + pattern, repl, k)
            if n:
                out[nk] = v
                break
        else:
            raise CheckpointError(f"unexpected key {k!r} in a BasicSR RCAN state dict")
    hp, _ = rcan_official(out)
    return hp, out


def swinir(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Official SwinIR (classical SR): hyperparameters from shapes; buffers missing from the file are rebuilt."""
    from srkd.models.swin_blocks import relative_position_index, shift_mask

    for marker in ("absolute_pos_embed", "logit_scale", "cpb_mlp", "conv_block", "overlap_attn", "conv_up1"):
        if any(marker in k for k in sd):
            raise CheckpointError(f"a SwinIR-like layout with {marker!r} keys (another variant, not classical SwinIR)")
    embed_dim, in_ch = sd["conv_first.weight"].shape[:2]
    blk = "layers.{}.residual_group.blocks.{}."
    n_layers = count(sd, r"layers\.(\d+)\.residual_group\.blocks\.0\.norm1\.weight$")
    depths = [count(sd, rf"layers\.{i}\.residual_group\.blocks\.(\d+)\.norm1\.weight$") for i in range(n_layers)]
    table = sd[blk.format(0, 0) + "attn.relative_position_bias_table"]
    ws = (round(math.sqrt(table.shape[0])) + 1) // 2
    hp: dict[str, Any] = dict(
        embed_dim=embed_dim, depths=depths, window_size=ws, in_channels=in_ch,
        num_heads=[sd[blk.format(i, 0) + "attn.relative_position_bias_table"].shape[1] for i in range(n_layers)],
        mlp_ratio=sd[blk.format(0, 0) + "mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias=blk.format(0, 0) + "attn.qkv.bias" in sd, patch_norm="patch_embed.norm.weight" in sd,
        resi_connection="1conv" if "conv_after_body.weight" in sd else "3conv",
    )
    if "conv_before_upsample.0.weight" in sd:
        num_feat = sd["conv_before_upsample.0.weight"].shape[0]
        hp.update(upsampler="pixelshuffle", num_feat=num_feat, out_channels=sd["conv_last.weight"].shape[0],
                  scale=staged_scale(sd, r"upsample\.\d+\.weight$", num_feat))
    elif "upsample.0.weight" in sd:
        hp.update(upsampler="pixelshuffledirect", out_channels=in_ch,
                  scale=pixelshuffle_scale(sd["upsample.0.weight"].shape[0], in_ch))
    else:
        raise CheckpointError("a SwinIR without an upsampler (denoising or JPEG model) is not an SR model")
    mask_key = blk.format(0, 1) + "attn_mask"
    hp["img_size"] = round(math.sqrt(sd[mask_key].shape[0])) * ws if mask_key in sd else 64
    out = dict(sd)
    for i, depth in enumerate(depths):
        for j in range(depth):
            out.setdefault(blk.format(i, j) + "attn.relative_position_index", relative_position_index(ws))
            if j % 2 and hp["img_size"] > ws:
                out.setdefault(blk.format(i, j) + "attn_mask", shift_mask(hp["img_size"], hp["img_size"], ws, ws // 2))
    return hp, out


def _distillation_net(sd: StateDict, block: str, *, what: str) -> dict[str, Any]:
    n_feats, in_ch = sd["fea_conv.weight"].shape[:2]
    n_blocks = count(sd, rf"{block}(\d+)\.c1")
    if sd["c.0.weight"].shape[1] != n_feats * n_blocks:
        raise CheckpointError(f"{what}: fusion conv takes {sd['c.0.weight'].shape[1]} channels, "
                              f"expected {n_blocks} blocks x {n_feats}")
    scale = pixelshuffle_scale(sd["upsampler.0.weight"].shape[0], in_ch)
    return dict(scale=scale, n_feats=n_feats, n_blocks=n_blocks, in_channels=in_ch, out_channels=in_ch)


def imdn(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Official IMDN (``IMDB1..n``, ``c.0``, ``LR_conv``, ``upsampler.0``): keys kept; range not in the file."""
    return _distillation_net(sd, "IMDB", what="IMDN"), dict(sd)


def rfdn(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Official RFDN (``B1..n`` with ``esa``): keys kept; range not in the file."""
    return _distillation_net(sd, "B", what="RFDN"), dict(sd)
