"""Score a model on a benchmark folder with the papers' protocol."""
from __future__ import annotations

import dataclasses
import logging
import os

import torch
from torch import nn
from tqdm import tqdm

from srkd.data.benchset import iter_pairs
from srkd.data.io import to_tensor, to_uint8
from srkd.metrics import psnr, ssim

log = logging.getLogger(__name__)


@dataclasses.dataclass
class EvalResult:
    data: str
    scale: int
    rows: list[dict]  # name, psnr, ssim, lr_source

    @property
    def psnr(self) -> float:
        return sum(r["psnr"] for r in self.rows) / len(self.rows)

    @property
    def ssim(self) -> float:
        return sum(r["ssim"] for r in self.rows) / len(self.rows)

    def to_dict(self) -> dict:
        return {"data": self.data, "scale": self.scale, "psnr": self.psnr, "ssim": self.ssim, "images": self.rows}


@torch.inference_mode()
def evaluate(
    model: nn.Module, *, data: str | os.PathLike, scale: int, device: str | torch.device = "cpu",
    limit: int | None = None, with_ssim: bool = True, progress: bool = False,
) -> EvalResult:
    """PSNR/SSIM on Y, crop_border = scale, SR rounded to uint8 before scoring (BasicSR's protocol)."""
    model = model.to(device).eval()
    rows = []
    pairs = list(iter_pairs(data, scale=scale, limit=limit))
    for pair in tqdm(pairs, desc="eval", disable=not progress, leave=False):
        sr = to_uint8(model(to_tensor(pair.lr).to(device)))
        if sr.shape != pair.hr.shape:
            raise ValueError(f"{pair.name}: model output {sr.shape} != HR {pair.hr.shape}")
        row = {"name": pair.name, "psnr": psnr(sr, pair.hr, crop_border=scale), "lr_source": pair.lr_source}
        row["ssim"] = ssim(sr, pair.hr, crop_border=scale) if with_ssim else float("nan")
        rows.append(row)
    return EvalResult(str(data), scale, rows)
