"""Parity: does an artifact reproduce the PyTorch fp32 output on real images?

Each HR image is cropped to fit the scale and size requirement, shrunk with MATLAB-compatible
bicubic (``srkd.data.imresize``) and run through both runners one image at a time. The result is
data (``ParityResult``) that knows whether it passed, Polygraphy-style.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any, Sequence

import numpy as np

from srkd.backends.runner import Runner
from srkd.data.benchset import hr_folder
from srkd.data.imresize import imresize
from srkd.data.io import list_images, read_image
from srkd.errors import DataError, ParityError
from srkd.metrics import psnr

log = logging.getLogger(__name__)

# Minimum PSNR (dB, RGB, all pixels, float outputs in [0, 1]) against the torch fp32 output.
MIN_PSNR_VS_REF = {"fp32": 60.0, "bf16": 45.0, "fp16": 45.0}
# int8: PSNR against HR (Y, crop_border = scale, uint8) may drop at most this much from fp32's.
MAX_INT8_HR_DROP = 0.3


def thresholds() -> dict[str, Any]:
    """The parity thresholds, as recorded in the manifest."""
    return {
        **{p: {"psnr_vs_ref_min_db": v} for p, v in MIN_PSNR_VS_REF.items()},
        "int8": {"psnr_vs_hr_max_drop_db": MAX_INT8_HR_DROP},
        "nan": "any non-finite output value fails",
        "reference": "torch fp32 output on the same LR images (LR = MATLAB bicubic of HR)",
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclasses.dataclass(kw_only=True)
class ParityResult:
    """One artifact against the reference. ``psnr_vs_ref``: the worst image's PSNR against the
    reference output (inf when identical); ``psnr_vs_hr`` / ``ref_psnr_vs_hr``: mean PSNR against HR
    of the candidate / reference; ``threshold``: the bound the ``criterion`` compares with."""

    name: str
    precision: str
    images: int
    psnr_vs_ref: float
    psnr_vs_hr: float
    ref_psnr_vs_hr: float
    max_abs: float
    mean_abs: float
    nan_count: int
    threshold: float
    criterion: str
    passed: bool
    worst_image: int = 0
    # |candidate - reference| of the worst image, max over channels (HxW float32); not serialised
    worst_error: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (infinite or NaN figures become ``null``; ``nan_count`` tells which)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "worst_error"}
        for key in ("psnr_vs_ref", "psnr_vs_hr", "ref_psnr_vs_hr", "max_abs", "mean_abs", "threshold"):
            out[key] = _finite_or_none(out[key])
        return out

    def summary(self) -> str:
        """One line with the figures, e.g. for an error message."""
        return (f"{self.name}: PSNR vs torch fp32 {self.psnr_vs_ref:.2f} dB, vs HR {self.psnr_vs_hr:.3f} dB "
                f"(fp32 {self.ref_psnr_vs_hr:.3f}), max |diff| {self.max_abs:.3g}, NaN {self.nan_count}, "
                f"on {self.images} images; needs {self.criterion}")

    def require(self, *, label: str | os.PathLike = "") -> "ParityResult":
        """Return self when passed, else raise ParityError naming ``label`` with the figures."""
        if not self.passed:
            prefix = f"{label}: " if str(label) else ""
            raise ParityError(f"{prefix}parity failed: {self.summary()}")
        return self


SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee")


def _center_crop(img: np.ndarray, crop: int | None) -> np.ndarray:
    if not crop:
        return img
    h, w = img.shape[:2]
    top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    return np.ascontiguousarray(img[top : top + crop, left : left + crop])


def parity_images(
    data: str | os.PathLike | None = None, *, limit: int | None = 3, crop: int | None = 256,
) -> list[tuple[str, np.ndarray]]:
    """Real HR photos for parity checks as (name, uint8 HxWx3), each center-cropped to ``crop`` px.

    ``data``: a folder of images (or ``DIR/HR``), first ``limit`` in name order; None: scikit-image's
    sample photos (astronaut, chelsea, coffee). ``crop`` None or 0 keeps full images.
    """
    if data is None:
        from skimage import data as samples

        photos = [(name, np.asarray(getattr(samples, name)())) for name in SAMPLE_PHOTOS[:limit]]
    else:
        photos = [(path.stem, read_image(path)) for path in list_images(hr_folder(data))[:limit]]
    return [(name, _center_crop(_as_uint8(img)[:, :, :3], crop)) for name, img in photos]


def _as_uint8(img: np.ndarray) -> np.ndarray:
    """16-bit photos become 8-bit (the metrics protocol scores uint8)."""
    return (img.astype(np.float64) / 257.0).round().astype(np.uint8) if img.dtype == np.uint16 else img


def prepare_pair(hr: np.ndarray, *, scale: int, multiple_of: int = 1, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Crop HR (uint8 HxWx3) so LR fits the size requirement; returns (LR float32 1x3xhxw, HR uint8)."""
    step = scale * multiple_of
    h, w = hr.shape[:2]
    hr = np.ascontiguousarray(hr[: h - h % step, : w - w % step, :3])
    if min(hr.shape[:2]) < scale * minimum:
        raise DataError(f"parity image of {w}x{h} px is too small for x{scale} (LR side >= {minimum} needed)")
    lr = imresize(hr, scale=1 / scale)
    return lr.transpose(2, 0, 1)[None].astype(np.float32) / 255.0, hr


def fit_side(lr: np.ndarray, hr: np.ndarray, *, side: int, scale: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """LR (1xCxhxw) centre-cropped and/or reflect-padded at the bottom/right to ``side`` x ``side`` (a
    fixed-shape artifact's input), HR cropped to match, and the LR size of the real pixels in it."""
    h, w = lr.shape[2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    lr = lr[:, :, top: top + side, left: left + side]
    rh, rw = lr.shape[2:]
    hr = hr[top * scale: (top + rh) * scale, left * scale: (left + rw) * scale]
    lr = np.pad(lr, ((0, 0), (0, 0), (0, side - rh), (0, side - rw)), mode="reflect" if min(rh, rw) > 1 else "edge")
    return np.ascontiguousarray(lr), np.ascontiguousarray(hr), (rh, rw)


def _to_uint8(out: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(out[0], nan=0.0), 0, 1) * 255.0).round().astype(np.uint8).transpose(1, 2, 0)


def _psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR with peak 1.0 over every value (RGB, all pixels), outputs not clipped."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def check_parity(
    runner: Runner, reference_runner: Runner, *, images: Sequence[np.ndarray], scale: int,
    precision: str | None = None,
) -> ParityResult:
    """Run the HR ``images`` (uint8 HxWx3) through both active runners and compare.

    ``precision`` defaults to ``runner.precision`` and selects the threshold: fp32 needs >= 60 dB
    against the reference, bf16/fp16 >= 45 dB, int8 a PSNR against HR at most 0.3 dB below the
    reference's. Any non-finite value in either output fails. A fixed-shape runner (``fixed_side``) gets
    each LR cropped or padded to its side (``fit_side``), the reference the same input, and the outputs
    are compared on the real pixels.
    """
    precision = precision or runner.precision
    if precision not in MIN_PSNR_VS_REF and precision != "int8":
        raise ParityError(f"{runner.name}: no parity threshold for precision {precision!r} "
                          f"(known: {', '.join([*MIN_PSNR_VS_REF, 'int8'])})")
    if not images:
        raise ParityError(f"{runner.name}: parity needs at least one image")
    req = reference_runner.spec.size_req
    worst, sum_abs, count, max_abs, nans = float("inf"), 0.0, 0, 0.0, 0
    hr_scores, ref_scores, worst_i, worst_map = [], [], 0, None
    for i, hr in enumerate(images):
        lr, hr = prepare_pair(hr, scale=scale, multiple_of=req.multiple_of, minimum=req.minimum)
        real = lr.shape[2:]
        if runner.fixed_side is not None:
            lr, hr, real = fit_side(lr, hr, side=runner.fixed_side, scale=scale)
        ref, out = reference_runner.infer(lr), runner.infer(lr)
        ref, out = (y[:, :, : real[0] * scale, : real[1] * scale] for y in (ref, out))
        if out.shape != ref.shape:
            raise ParityError(f"{runner.name}: output shape {out.shape} differs from the reference's {ref.shape}")
        nans += int(np.count_nonzero(~np.isfinite(out)) + np.count_nonzero(~np.isfinite(ref)))
        diff = np.abs(out.astype(np.float64) - ref)
        max_abs, sum_abs, count = max(max_abs, float(np.nanmax(diff))), sum_abs + float(np.nansum(diff)), count + diff.size
        score = _psnr_float(np.nan_to_num(out), np.nan_to_num(ref))
        if worst_map is None or score < worst:
            worst, worst_i = score, i
            worst_map = np.nan_to_num(diff[0], nan=np.inf).max(axis=0).astype(np.float32)
        hr_scores.append(psnr(_to_uint8(out), hr, crop_border=scale))
        ref_scores.append(psnr(_to_uint8(ref), hr, crop_border=scale))
    psnr_hr, ref_hr = float(np.mean(hr_scores)), float(np.mean(ref_scores))
    if precision == "int8":
        threshold = ref_hr - MAX_INT8_HR_DROP
        criterion, ok = f"PSNR vs HR >= {threshold:.3f} dB (fp32 - {MAX_INT8_HR_DROP})", psnr_hr >= threshold
    else:
        threshold = MIN_PSNR_VS_REF[precision]
        criterion, ok = f"PSNR vs torch fp32 >= {threshold:g} dB", worst >= threshold
    result = ParityResult(
        name=runner.name, precision=precision, images=len(images), psnr_vs_ref=worst, psnr_vs_hr=psnr_hr,
        ref_psnr_vs_hr=ref_hr, max_abs=max_abs, mean_abs=sum_abs / max(count, 1), nan_count=nans,
        threshold=threshold, criterion=criterion, passed=bool(ok) and nans == 0, worst_image=worst_i,
        worst_error=worst_map,
    )
    log.info("parity %s", result.summary())
    return result
