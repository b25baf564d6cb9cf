"""Overlap tiling: tiled output matches the whole-image output on a real photo, and honours size_req."""
import numpy as np
import pytest
import torch

from srkd.errors import ConfigError
from srkd.models import build_model
from srkd.models.spec import SizeReq
from srkd.serve.tiler import TileGrid, TileSettings, axis_weights, axis_windows, infer_tiled, pad_to_size_req


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).eval()

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return fn


@pytest.fixture(scope="module")
def lr(photo):
    crop = photo[:256, 128:384]  # the astronaut's face and suit: a real photo, small enough to be quick
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def naive_stitch(fn, x, *, tile, overlap, scale=2):
    """The same windows pasted one over the other, no blending: what the cross-fade must beat."""
    h, w = x.shape[2:]
    ys, wh = axis_windows(h, tile=tile, overlap=overlap)
    xs, ww = axis_windows(w, tile=tile, overlap=overlap)
    out = np.zeros((1, 3, h * scale, w * scale), np.float32)
    for y0 in ys:
        for x0 in xs:
            y = fn(np.ascontiguousarray(x[:, :, y0: y0 + wh, x0: x0 + ww]))
            out[:, :, y0 * scale: y0 * scale + y.shape[2], x0 * scale: x0 * scale + y.shape[3]] = y
    return out


@pytest.mark.parametrize("tile,overlap", [(96, 16), (160, 8), (64, 12)])
def test_tiled_matches_whole_image_on_photo(net, lr, tile, overlap):
    whole = net(lr)
    assert 0.05 < whole.std() and 0.0 < whole.mean() < 1.0  # the random net does not saturate
    tiled = infer_tiled(net, lr, scale=2, settings=TileSettings(tile=tile, overlap=overlap))
    assert tiled.shape == whole.shape == (1, 3, 512, 512)
    assert psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1)) >= 50.0


def test_batched_windows_equal_one_by_one(net, lr):
    one = infer_tiled(net, lr, scale=2, settings=TileSettings(tile=96, overlap=8))
    four = infer_tiled(net, lr, scale=2, settings=TileSettings(tile=96, overlap=8), batch=4)
    np.testing.assert_allclose(one, four, atol=1e-5)


def test_blending_beats_a_naive_stitch(net, lr):
    # Little context: the windows' border errors fall inside the overlap, so pasting leaves visible seams.
    whole = np.clip(net(lr), 0, 1)
    tiled = np.clip(infer_tiled(net, lr, scale=2, settings=TileSettings(tile=96, overlap=4)), 0, 1)
    pasted = np.clip(naive_stitch(net, lr, tile=96, overlap=4), 0, 1)
    no_overlap = np.clip(naive_stitch(net, lr, tile=96, overlap=0), 0, 1)
    assert psnr(pasted, whole) < 48.0 and psnr(no_overlap, whole) < 48.0  # the check can see seams
    assert psnr(tiled, whole) >= 50.0
    assert psnr(tiled, whole) > psnr(pasted, whole) + 10.0


def test_windows_are_equal_and_cost_what_the_overlap_says():
    starts, win = axis_windows(1024, tile=512, overlap=16)
    assert starts == [0, 1024 - 544] and win == 544  # two cores of 512, each with 16 px of context per side
    starts, win = axis_windows(600, tile=512, overlap=16)
    assert len(starts) == 2 and win == 300 + 32 and starts[-1] + win == 600  # split evenly, not 512 + 88
    assert axis_windows(500, tile=512, overlap=16) == ([0], 500)
    grid = TileGrid.plan(1000, 700, scale=4, settings=TileSettings(tile=256, overlap=16),
                         size_req=SizeReq(minimum=1, multiple_of=8))
    assert len(grid) == 4 * 3 and grid.patch_shape == (grid.win[0], grid.win[1]) and grid.win[0] % 8 == 0


def test_weights_sum_to_one_and_fade_smoothly():
    starts, win = axis_windows(300, tile=96, overlap=12)
    assert starts[0] == 0 and starts[-1] == 300 - win
    total = np.zeros(600)
    for s, w in zip(starts, axis_weights(starts, win=win, length=300, scale=2)):
        assert w.shape == (2 * win,) and (w > 0).all() and (w <= 1).all()
        total[2 * s: 2 * s + 2 * win] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    first = axis_weights(starts, win=win, length=300, scale=2)[1]
    assert np.abs(np.diff(first)).max() < 0.1  # a ramp, not a step


def nearest(req: SizeReq, scale: int, seen: list):
    def fn(x: np.ndarray) -> np.ndarray:
        h, w = x.shape[2:]
        assert min(h, w) >= req.minimum and h % req.multiple_of == 0 and w % req.multiple_of == 0, (h, w)
        seen.append((h, w))
        return x.repeat(scale, axis=2).repeat(scale, axis=3)

    return fn


@pytest.mark.parametrize("shape", [(37, 53), (5, 3), (1, 1), (70, 16)])
@pytest.mark.parametrize("tile", [None, 24])
def test_size_req_padding_is_cropped_back(shape, tile):
    req = SizeReq(minimum=16, multiple_of=8)
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, *shape), dtype=np.float32)
    seen: list = []
    y = infer_tiled(nearest(req, 3, seen), x, scale=3, settings=TileSettings(tile=tile, overlap=6), size_req=req)
    np.testing.assert_allclose(y, x.repeat(3, axis=2).repeat(3, axis=3), atol=1e-6)
    assert seen


def test_reflect_padding():
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    p = pad_to_size_req(x, size_req=SizeReq(minimum=1, multiple_of=4))
    assert p.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(p[0, 0, 3], x[0, 0, 1])  # reflected, not zero


def test_bad_settings():
    with pytest.raises(ConfigError, match="overlap"):
        TileSettings(tile=32, overlap=-1)
    with pytest.raises(ConfigError):
        TileSettings(tile=0)
