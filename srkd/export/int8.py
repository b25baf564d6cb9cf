"""Making an INT8 artifact that passes parity: quantize, measure, and try the known remedies in turn.

The first recipe is the default (``DEFAULT_INT8``). When its PSNR against HR drops more than the
DESIGN.md bound (0.3 dB) below fp32's, the remedies follow, cheapest first: keep the first/last
convolutions and the upsampler in fp32; 4x more calibration patches; entropy calibration;
percentile calibration; then those two calibrations with the ends kept in fp32. The first recipe that
passes is kept; if none does, ParityError lists every recipe with its figures.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from srkd.backends.runner import Runner
from srkd.errors import ParityError
from srkd.export.parity import ParityResult, check_parity
from srkd.export.quantize import Int8Settings, quantize_int8

log = logging.getLogger(__name__)

# Measured (benchmarks/int8_settings.py; figures in docs/deploy.md, "INT8 settings"): on an EDSR 32x8
# student and a 64x16 teacher every recipe stays within 0.04 dB of fp32 on Set5+Set14, so the cheapest
# calibration wins: minmax on 32 LR patches of 64 px (closest to fp32 of the cheap ones, ~2 s).
# uint8 asymmetric activations run ~1.5x faster than int8 symmetric on x86 ONNX Runtime (0.5 vs 0.74 of
# fp32's time) and lose no accuracy, so symmetric is used only for TensorRT.
DEFAULT_INT8 = Int8Settings(calibration="minmax", images=32, patch=64, per_channel=True, symmetric=False)


def remedies(base: Int8Settings) -> list[Int8Settings]:
    """``base`` followed by the remedies to try when it fails, cheapest first, without repeats.

    Only minmax gets more patches: the histogram calibrators hold every intermediate tensor of every
    patch in memory at once.
    """
    more = min(base.images * 4, 256)
    recipes = [
        base,
        dataclasses.replace(base, keep_fp32="ends"),
        dataclasses.replace(base, images=more),
        dataclasses.replace(base, calibration="entropy"),
        dataclasses.replace(base, calibration="percentile"),
        dataclasses.replace(base, calibration="entropy", keep_fp32="ends"),
        dataclasses.replace(base, calibration="percentile", keep_fp32="ends"),
    ]
    unique: list[Int8Settings] = []
    for recipe in recipes:
        if recipe not in unique:
            unique.append(recipe)
    return unique


@dataclasses.dataclass(kw_only=True)
class Int8Attempt:
    """One recipe and what it measured."""

    settings: Int8Settings
    parity: ParityResult
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        p = self.parity
        return {"recipe": self.settings.label(), "settings": self.settings.to_dict(), "passed": p.passed,
                "psnr_vs_hr": p.psnr_vs_hr, "fp32_psnr_vs_hr": p.ref_psnr_vs_hr,
                "drop_db": p.ref_psnr_vs_hr - p.psnr_vs_hr, "psnr_vs_ref": p.psnr_vs_ref,
                "nan_count": p.nan_count, "seconds": round(self.seconds, 2)}

    def line(self) -> str:
        p = self.parity
        return (f"{self.settings.label()}: vs HR {p.psnr_vs_hr:.3f} dB (fp32 {p.ref_psnr_vs_hr:.3f}, "
                f"drop {p.ref_psnr_vs_hr - p.psnr_vs_hr:.3f}), vs fp32 {p.psnr_vs_ref:.2f} dB, NaN {p.nan_count}")


@dataclasses.dataclass(kw_only=True)
class Int8Outcome:
    """The recipe kept (its quantization info and parity) and every attempt in order."""

    info: dict[str, Any]
    parity: ParityResult
    attempts: list[Int8Attempt]


def build_int8(
    fp32_path: str | os.PathLike, out_path: str | os.PathLike, *, reference: Runner,
    open_candidate: Callable[[Path], Runner], hr_images: Sequence[np.ndarray], scale: int,
    patches: Callable[[Int8Settings], np.ndarray], settings: Int8Settings = DEFAULT_INT8, auto_remedy: bool = True,
) -> Int8Outcome:
    """Quantize ``fp32_path`` into ``out_path`` with the first recipe whose int8 parity passes.

    ``reference``: the active torch fp32 runner; ``open_candidate(path)``: an inactive runner for a
    quantized file; ``patches(settings)``: calibration patches for a recipe. ``auto_remedy=False``
    tries ``settings`` alone. Raises ParityError with every recipe's figures when none passes.
    """
    out_path = Path(out_path)
    trial = out_path.with_name(out_path.stem + ".trial.onnx")
    attempts: list[Int8Attempt] = []
    try:
        for recipe in remedies(settings) if auto_remedy else [settings]:
            start = time.perf_counter()
            info = quantize_int8(fp32_path, trial, patches=patches(recipe), settings=recipe)
            with open_candidate(trial) as runner:
                parity = check_parity(runner, reference, images=hr_images, scale=scale, precision="int8")
            attempts.append(Int8Attempt(settings=recipe, parity=parity, seconds=time.perf_counter() - start))
            log.info("int8 %s -> %s", attempts[-1].line(), "pass" if parity.passed else "fail")
            if parity.passed:
                os.replace(trial, out_path)
                return Int8Outcome(info=info, parity=parity, attempts=attempts)
    finally:
        trial.unlink(missing_ok=True)
    raise ParityError(f"{out_path.name}: no int8 recipe keeps PSNR vs HR within the bound "
                      f"({attempts[0].parity.criterion}); tried " + "; ".join(a.line() for a in attempts))
