import numpy as np
import pytest

from srkd.metrics import psnr, rgb_to_y, ssim


def test_y_channel_bt601():
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)
    red = np.array([[[255, 0, 0]]], np.uint8)
    assert rgb_to_y(red)[0, 0] == pytest.approx(65.481 + 16)


def test_psnr_known_value_and_crop():
    a = np.zeros((20, 20, 3), np.uint8)
    b = a.copy()
    b[2:-2, 2:-2] = 10  # inside the crop: Y differs by 10*219/255
    diff = 10 * 219 / 255
    assert psnr(a, b, crop_border=2) == pytest.approx(10 * np.log10(255**2 / diff**2))
    c = a.copy()
    c[:2] = 200  # only in the cropped border
    assert psnr(a, c, crop_border=2) == float("inf")
    assert psnr(a, b, crop_border=0, y_channel=False) > psnr(a, b, crop_border=2, y_channel=False)  # more equal pixels


def test_ssim_identity_and_degradation(photo):
    img = photo[:128, :128]
    assert ssim(img, img, crop_border=4) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    val = ssim(noisy, img, crop_border=4)
    assert 0.3 < val < 0.95


def test_grey_equals_three_channels(photo):
    g = photo[:64, :64, 1]
    g3 = np.repeat(g[:, :, None], 3, axis=2)
    h = np.roll(g3, 1, axis=0)
    assert psnr(g3, h, crop_border=2) == pytest.approx(psnr(np.repeat(g[:, :, None], 3, 2), h, crop_border=2))
    assert rgb_to_y(g) == pytest.approx(rgb_to_y(g3))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), crop_border=0)
