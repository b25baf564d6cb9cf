"""Layout converters for the efficient students people deploy: SPAN (its training layout with the branch
weights, and files that keep only the folded convolutions) and Real-ESRGAN's Compact (SRVGGNetCompact).

Both keep srkd's native key names, which are the public ones; the converters read the hyperparameters
from the shapes and check the structure, so that a file of another network is refused here (a near
miss) rather than half-read.
"""
from __future__ import annotations

import re
from typing import Any

from srkd.errors import CheckpointError
from srkd.models.keymaps_more import StateDict, count, pixelshuffle_scale

SPAN_CONVS = ("conv_1", "conv_2")  # besides block_i.c{1,2,3}_r: the re-parameterisable convs


def _span_common(sd: StateDict, *, head: str) -> dict[str, Any]:
    """Hyperparameters of a SPAN state dict whose head conv weight is ``head`` ([C, in, k, k])."""
    fc, in_ch = sd[head].shape[:2]
    n_blocks = count(sd, r"block_(\d+)\.c1_r\.")
    if n_blocks < 1 or any(not any(k.startswith(f"block_{i}.") for k in sd) for i in range(1, n_blocks + 1)):
        raise CheckpointError(f"SPAN: blocks are not numbered block_1..block_{n_blocks}")
    if sd["conv_cat.weight"].shape[1] != 4 * fc:
        raise CheckpointError(f"SPAN: conv_cat takes {sd['conv_cat.weight'].shape[1]} channels, expected 4 x {fc}")
    hp: dict[str, Any] = dict(scale=pixelshuffle_scale(sd["upsampler.0.weight"].shape[0], in_ch),
                              feature_channels=int(fc), n_blocks=n_blocks, in_channels=int(in_ch),
                              out_channels=int(in_ch))
    # no_norm, the release's marker: the head sees the input as it is; else the range is not in the file
    hp["norm"] = "no_norm" not in sd
    return hp


def span_branches(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """SPAN's training layout (``sk``, ``conv.{0,1,2}`` per re-parameterised conv, usually with the
    derived ``eval_conv`` beside them, which is dropped: srkd folds the branches itself)."""
    hp = _span_common(sd, head="conv_1.sk.weight")
    hp["branches"] = True
    return hp, {k: v for k, v in sd.items() if ".eval_conv." not in k}


def span_folded(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """A SPAN that keeps only the folded convolutions (``eval_conv``), as some challenge releases do."""
    if any(re.search(r"\.(sk|conv\.\d)\.", k) for k in sd):
        raise CheckpointError("SPAN: some branch weights without all of them (expected sk and conv.0-2 of every "
                              "conv, or eval_conv only)")
    hp = _span_common(sd, head="conv_1.eval_conv.weight")
    hp["branches"] = False
    return hp, dict(sd)


def compact(sd: StateDict) -> tuple[dict[str, Any], StateDict]:
    """Real-ESRGAN's SRVGGNetCompact (``body.<i>``: convs at even i, PReLU slopes at odd i)."""
    bad = [k for k in sd if not re.match(r"body\.\d+\.(weight|bias)$", k)]
    if bad:
        raise CheckpointError(f"Compact: unexpected key {bad[0]!r} (expected only body.<i>.weight/bias)")
    last = max(int(k.split(".")[1]) for k in sd)
    convs = range(0, last + 1, 2)
    if last % 2 or any(sd.get(f"body.{i}.weight") is None or sd[f"body.{i}.weight"].dim() != 4 for i in convs):
        raise CheckpointError(f"Compact: expected 3x3 convs at body.0, body.2, ..., body.{last}")
    slopes = [i for i in range(1, last, 2) if f"body.{i}.weight" in sd]
    if len(slopes) != last // 2:
        raise CheckpointError("Compact without PReLU slopes at every odd body index: its relu and leakyrelu "
                              "variants cannot be told apart from the weights (the releases use PReLU)")
    num_feat, in_ch = sd["body.0.weight"].shape[:2]
    hp = dict(scale=pixelshuffle_scale(sd[f"body.{last}.weight"].shape[0], in_ch), num_feat=int(num_feat),
              num_conv=(last - 2) // 2, act="prelu", in_channels=int(in_ch), out_channels=int(in_ch))
    return hp, dict(sd)
