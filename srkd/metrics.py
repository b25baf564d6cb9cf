"""PSNR/SSIM with BasicSR's protocol: Y channel (BT.601, offset 16) in float64, crop_border = scale."""
from __future__ import annotations

import cv2
import numpy as np


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """RGB uint8-valued HxWx3 -> Y in [16, 235] float64, no rounding (BasicSR ``to_y_channel``)."""
    img = img.astype(np.float64) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img @ np.array([65.481, 128.553, 24.966]) + 16.0


def _prepare(img: np.ndarray, ref: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    if img.shape != ref.shape:
        raise ValueError(f"image shapes differ: {img.shape} vs {ref.shape}")
    if y_channel:
        img, ref = rgb_to_y(img), rgb_to_y(ref)
    else:
        img, ref = img.astype(np.float64), ref.astype(np.float64)
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
        ref = ref[crop_border:-crop_border, crop_border:-crop_border]
    return img, ref


def psnr(img: np.ndarray, ref: np.ndarray, *, crop_border: int, y_channel: bool = True) -> float:
    """PSNR in dB between two uint8 RGB images (HxWx3); inf when equal."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    win = k @ k.T
    f = lambda t: cv2.filter2D(t, -1, win)[5:-5, 5:-5]  # noqa: E731  ('valid' window)
    mu_a, mu_b = f(a), f(b)
    s_aa, s_bb, s_ab = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return float(np.mean(num / den))


def ssim(img: np.ndarray, ref: np.ndarray, *, crop_border: int, y_channel: bool = True) -> float:
    """SSIM (Wang et al., 11x11 Gaussian window, sigma 1.5) as BasicSR computes it."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    if a.ndim == 2:
        return _ssim_2d(a, b)
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))
