"""Automatic tile size: activation bytes per pixel from torch hooks and from ONNX shapes; budget and profile caps."""
import pytest
import torch
from serve_fakes import NearestRunner

from srkd.backends.pytorch.runner import TorchRunner
from srkd.models import build_model, describe
from srkd.serve.memory import MAX_TILE, MIN_TILE, auto_tile, bytes_per_pixel, profile_batch, profile_max


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("edsr", {"scale": 4, "n_feats": 16, "n_blocks": 2}).eval()


def test_torch_and_onnx_estimates_agree(model, tmp_path):
    pytest.importorskip("onnxruntime")
    from srkd.export.onnx import export_onnx
    from srkd.backends.onnxruntime.runner import OrtRunner

    torch_bpp = bytes_per_pixel(TorchRunner(model, spec=describe(model)))
    # the pixel-shuffle input (16 * 4 feats at LR) and the x4 output dominate: hundreds of bytes per pixel
    assert 16 * 4 * 4 < torch_bpp < 16 * 4 * 4 * 16
    export_onnx(model, tmp_path / "m.onnx")
    onnx_bpp = bytes_per_pixel(OrtRunner(tmp_path / "m.onnx", spec=describe(model)))
    assert 0.5 < onnx_bpp / torch_bpp < 2.0


def test_auto_tile_follows_the_budget(model):
    runner = TorchRunner(model, spec=describe(model))
    bpp = bytes_per_pixel(runner)
    assert auto_tile(runner, overlap=16, budget=1 << 40) == MAX_TILE
    assert auto_tile(runner, overlap=16, budget=1) == MIN_TILE
    mid = auto_tile(runner, overlap=16, budget=int(bpp * 400 * 400))
    assert mid % 8 == 0 and 300 < mid <= 400 - 32
    assert auto_tile(runner, overlap=16, budget=int(bpp * 400 * 400), batch=4) < mid


def test_engine_profile_caps_tile_and_batch():
    runner = NearestRunner()
    assert profile_max(runner) is None and profile_batch(runner) is None
    runner.profile = ((1, 3, 16, 16), (2, 3, 256, 256), (4, 3, 512, 384))  # TensorRT's (min, opt, max)
    assert profile_max(runner) == 384 and profile_batch(runner) == 4
    assert auto_tile(runner, overlap=16, budget=1 << 40) == 384 - 32
