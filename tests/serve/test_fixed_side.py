"""Artifacts that take one input side only (LiteRT's): the runner refuses other sizes, parity pads or crops to
the side, latency is timed at it, and upscaling tiles to it. A torch runner declaring a fixed side stands in
for the real one, so this runs wherever torch does (tests/backends/test_litert.py runs the real one)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from srkd.backends.pytorch.runner import TorchRunner
from srkd.errors import SrkdError
from srkd.export.latency import measure_latency
from srkd.export.parity import check_parity, fit_side
from srkd.models import build_model, describe
from srkd.serve.tiler import fixed_tiles
from srkd.serve.upscaler import Upscaler

SIDE = 48


class FixedTorch(TorchRunner):
    fixed_side = SIDE


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).eval()


def test_other_sizes_are_refused_in_one_line(model):
    with FixedTorch(model, spec=describe(model)) as runner:
        with pytest.raises(SrkdError, match=r"takes 48x48 inputs only, got 40x48 \(srkd upscale and srkd.load tile"):
            runner.infer(np.zeros((1, 3, 40, 48), np.float32))
        assert runner.size_req.minimum == SIDE and runner.infer(np.zeros((1, 3, SIDE, SIDE), np.float32)).shape[2:] == (96, 96)


@pytest.mark.parametrize("crop", [64, 200])  # LR 32 (padded up to the side) and LR 100 (cropped down to it)
def test_parity_feeds_both_runners_the_side(model, photo, crop):
    spec = describe(model)
    images = [photo[:crop, :crop], photo[100: 100 + crop, 300: 300 + crop]]
    with FixedTorch(model, spec=spec) as fixed, TorchRunner(model, spec=spec) as reference:
        result = check_parity(fixed, reference, images=images, scale=2)
    assert result.passed and result.psnr_vs_ref == float("inf") and result.psnr_vs_hr == result.ref_psnr_vs_hr


def test_fit_side_keeps_lr_and_hr_aligned(photo):
    lr = photo[:30, :70].transpose(2, 0, 1)[None].astype(np.float32)
    hr = np.repeat(np.repeat(photo[:30, :70], 2, axis=0), 2, axis=1)
    fitted, hr_fit, real = fit_side(lr, hr, side=SIDE, scale=2)
    assert fitted.shape == (1, 3, SIDE, SIDE) and real == (30, SIDE) and hr_fit.shape == (60, 96, 3)
    assert np.array_equal(fitted[0, :, :30, :].transpose(1, 2, 0), photo[:30, 11:59])  # centre of the 70 px width
    assert np.array_equal(hr_fit[::2, ::2], photo[:30, 11:59])


def test_latency_is_timed_at_the_side_only(model):
    with FixedTorch(model, spec=describe(model)) as runner:
        result = measure_latency(runner, sizes=(16, 64), runs=2, warmup=1)
    assert [row.size for row in result.sizes] == [SIDE]


def test_upscaling_tiles_to_the_side(model, photo):
    tiles = fixed_tiles(SIDE, overlap=16, tile=None)
    assert (tiles.tile, tiles.overlap) == (24, 12) and fixed_tiles(SIDE, overlap=4, tile=100).tile == 40
    image = photo[150:211, 100:230]  # 61 x 130: tiled both ways, and smaller windows padded up to the side
    spec = describe(model)
    with Upscaler(FixedTorch(model, spec=spec), tiles=tiles) as fixed, Upscaler(TorchRunner(model, spec=spec)) as whole:
        got, expected = fixed.upscale(image), whole.upscale(image)
    diff = np.abs(got.astype(int) - expected)
    assert got.shape == expected.shape == (122, 260, 3) and diff.max() <= 2 and diff.mean() < 0.05
