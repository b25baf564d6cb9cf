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
    self_ensemble: bool = False
    lr_dir: str | None = None

    @property
    def psnr(self) -> float:
        return sum(r["psnr"] for r in self.rows) / len(self.rows)

    @property
    def ssim(self) -> float:
        return sum(r["ssim"] for r in self.rows) / len(self.rows)

    def to_dict(self) -> dict:
        return {"data": self.data, "scale": self.scale, "self_ensemble": self.self_ensemble, "lr_dir": self.lr_dir,
                "psnr": self.psnr, "ssim": self.ssim, "images": self.rows}


def self_ensemble(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The x8 geometric self-ensemble: mean of the outputs for the 8 flips/transposes, each undone."""
    total = None
    for transpose in (False, True):
        for dims in ((), (3,), (2,), (2, 3)):
            t = x.transpose(2, 3) if transpose else x
            y = model(t.flip(dims) if dims else t).float()
            y = y.flip(dims) if dims else y
            y = y.transpose(2, 3) if transpose else y
            total = y if total is None else total + y
    return total / 8


@torch.inference_mode()
def evaluate(
    model: nn.Module, *, data: str | os.PathLike, scale: int, device: str | torch.device = "cpu",
    limit: int | None = None, with_ssim: bool = True, progress: bool = False, ensemble: bool = False,
    lr_dir: str | os.PathLike | None = None,
) -> EvalResult:
    """PSNR/SSIM on Y, crop_border = scale, SR rounded to uint8 before scoring (BasicSR's protocol).

    ``ensemble`` averages the x8 geometric self-ensemble; ``lr_dir`` pairs the HR images in ``data``
    with the LR images there (see :func:`srkd.data.benchset.iter_pairs`).
    """
    model = model.to(device).eval()
    rows = []
    pairs = list(iter_pairs(data, scale=scale, limit=limit, lr_dir=lr_dir))
    run = (lambda t: self_ensemble(model, t)) if ensemble else model
    for pair in tqdm(pairs, desc="eval", disable=None if progress else True, leave=False):
        sr = to_uint8(run(to_tensor(pair.lr).to(device)))
        if sr.shape != pair.hr.shape:
            raise ValueError(f"{pair.name}: model output {sr.shape} != HR {pair.hr.shape}")
        row = {"name": pair.name, "psnr": psnr(sr, pair.hr, crop_border=scale), "lr_source": pair.lr_source}
        row["ssim"] = ssim(sr, pair.hr, crop_border=scale) if with_ssim else float("nan")
        rows.append(row)
    return EvalResult(str(data), scale, rows, self_ensemble=ensemble, lr_dir=None if lr_dir is None else str(lr_dir))


def markdown_table(results: list[EvalResult], *, model: str) -> str:
    """A Markdown report: one summary table (mean PSNR/SSIM per data set), then one per data set."""
    lines = [f"# {model}", "", "| data | scale | images | PSNR (dB) | SSIM |", "|---|---|---|---|---|"]
    for res in results:
        tag = " (x8 self-ensemble)" if res.self_ensemble else ""
        lines.append(f"| {res.data}{tag} | x{res.scale} | {len(res.rows)} | {res.psnr:.2f} | {res.ssim:.4f} |")
    for res in results:
        lines += ["", f"## {res.data} x{res.scale}", "", "| image | PSNR (dB) | SSIM | LR |", "|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['lr_source']} |" for r in res.rows]
    return "\n".join(lines) + "\n"
