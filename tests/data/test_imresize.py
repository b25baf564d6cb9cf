import numpy as np
import pytest
import torch

from srkd.data.imresize import imresize, imresize_torch
from srkd.data.io import list_images, modcrop, read_image


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bit_exact_with_matlab_files(set5, scale):
    for hr_path in list_images(set5 / "HR"):
        ref = read_image(set5 / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        lr = imresize(modcrop(read_image(hr_path), scale), scale=1 / scale)
        assert lr.dtype == np.uint8 and lr.shape == ref.shape
        assert np.array_equal(lr, ref), f"{hr_path.name} x{scale}: {np.count_nonzero(lr != ref)} pixels differ"


def test_torch_matches_numpy_float(photo):
    img = photo[:101, :77].astype(np.float64) / 255
    for scale in (0.25, 1 / 3, 2.0, 4.0):
        ref = imresize(img, scale=scale)
        out = imresize_torch(torch.from_numpy(img.transpose(2, 0, 1))[None], scale=scale)[0].permute(1, 2, 0).numpy()
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-10)


def test_shapes_and_constant_image():
    flat = np.full((30, 45, 3), 77, np.uint8)
    assert np.array_equal(imresize(flat, scale=0.5), np.full((15, 23, 3), 77, np.uint8))
    assert imresize(flat, scale=3).shape == (90, 135, 3)
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert imresize(grey, scale=2).shape == (16, 16)


def test_uint8_rounds_between_passes(photo):
    """The uint8 path rounds after the first pass, so it differs slightly from the float path."""
    img = photo[:120, :120]
    u8 = imresize(img, scale=0.25).astype(np.float64)
    fl = np.clip(np.floor(imresize(img.astype(np.float64), scale=0.25) + 0.5), 0, 255)
    assert np.abs(u8 - fl).max() <= 1
