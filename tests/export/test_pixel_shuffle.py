"""PixelShuffle / PixelUnshuffle survive both ONNX exporters at several sizes.

A channel-order bug in PixelUnshuffle was reported against the dynamo exporter; these tests keep
watch over it (no workaround is built while they pass).
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from srkd.export.onnx import export_module

SIZES = [(1, 8, 8), (2, 12, 20), (1, 30, 18), (3, 64, 48)]  # (batch, height, width), all multiples of 2


class UnshuffleShuffle(nn.Module):
    """conv -> PixelUnshuffle(2) -> conv -> PixelShuffle(2) -> conv: both rearrangements, mixed by convs
    so a wrong channel order cannot cancel out."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Conv2d(3, 5, 3, padding=1)
        self.down = nn.PixelUnshuffle(2)
        self.mid = nn.Conv2d(20, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)
        self.post = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.up(self.mid(self.down(self.pre(x)))))


class ShuffleUp(nn.Module):
    """An x3 sub-pixel upsampler (conv to 27 channels, PixelShuffle(3)), as in EDSR/RCAN tails."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 27, 3, padding=1)
        self.up = nn.PixelShuffle(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


class BareUnshuffle(nn.Module):
    """PixelUnshuffle(2) alone, then a 1x1 conv that weights every channel differently."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.PixelUnshuffle(2)
        self.mix = nn.Conv2d(12, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.down(x))


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("cls", [UnshuffleShuffle, ShuffleUp, BareUnshuffle])
def test_shuffle_parity_at_several_sizes(cls, dynamo, tmp_path):
    torch.manual_seed(0)
    module = cls().eval()
    path = tmp_path / "m.onnx"
    example = torch.rand(2, 3, 16, 24)
    export_module(module, path, example=example, dynamo=dynamo, minimum=2)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch, h, w in SIZES:
        x = rng.random((batch, 3, h, w), dtype=np.float32)
        (y,) = session.run(None, {"lr": x})
        with torch.inference_mode():
            ref = module(torch.from_numpy(x)).numpy()
        assert y.shape == ref.shape, (cls.__name__, (batch, h, w), y.shape, ref.shape)
        assert np.abs(y - ref).max() < 1e-5, (cls.__name__, (batch, h, w))


def test_unshuffle_channel_order_is_torchs(tmp_path):
    """Index-exact check: PixelUnshuffle of an arange tensor must match torch element for element."""
    module = nn.PixelUnshuffle(2).eval()
    x = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8)
    for dynamo in (False, True):
        path = tmp_path / f"u{int(dynamo)}.onnx"
        export_module(module, path, example=x, dynamo=dynamo, minimum=2)
        (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"lr": x.numpy()})
        assert np.array_equal(y, module(x).numpy()), "dynamo" if dynamo else "torchscript"
