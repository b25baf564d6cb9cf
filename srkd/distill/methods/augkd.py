"""``augkd``: AugKD (ICLR 2025), KD with zoom-in / zoom-out auxiliary samples and label consistency.

loss = lambda_pix * L1(S(lq), gt) + lambda_kd * L1(S(lq), T(lq))                 (main)
     + lambda_kd  * L1(F^-1(S(F(x_zi))), T(x_zi))                                  (zoom-in)
     + lambda_pix * L1(S(x_zo), lq) + lambda_kd * L1(S(x_zo), T(x_zo))             (zoom-out, if on)
By default two optimizer steps per iteration (main terms, then the auxiliary ones) and zoom-out off,
as measured here (AugKDConfig); ``two_step=false`` takes one step over the sum. The teacher runs once
for lq and the zoom-in tiles together (they have the same size), and once more for the zoom-out batch.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from srkd.distill.augment import apply_forward, apply_inverse, draw_flags, zoom_in_tiles, zoom_out
from srkd.distill.methods.base import Method, parse_method_args
from srkd.errors import ConfigError
from srkd.models.padding import forward_padded
from srkd.models.spec import SizeReq

@dataclasses.dataclass(kw_only=True)
class AugKDConfig:
    # The ground truth's weight: 1. The paper weighs it 5 for EDSR and SwinIR students; for EDSR, 1
    # measured better here, with one step and with two (two steps, zoom-out off: 31.13 / 27.94 dB at 1,
    # 31.05 / 27.90 at 5; Set5 / Set14, 3 seeds, 2,000 iterations; benchmarks/RESULTS.md, "Section 3").
    lambda_pix: float = 1.0
    lambda_kd: float = 1.0
    n_zoom_in: int = 1
    p: float = 0.3  # probability of each invertible augmentation
    # Zoom-out samples: off by default. The paper turns them on for EDSR students, but with two steps
    # (and lambda_pix 5) they cost 0.15 / 0.09 dB here (Set5 / Set14, 3 seeds, 2,000 iterations: 31.05 /
    # 27.90 dB off, 30.90 / 27.81 on; benchmarks/RESULTS.md, "Section 3"); an iteration is cheaper without.
    zoom_out: bool = False
    # Zoom-out samples (LR patch / scale px) below a network's minimum input are padded as inference
    # pads them (bottom/right, reflect, replicate beyond), run, and cropped. zoom_out_pad_to raises the
    # teacher's minimum (0: its own), to measure what the padding costs on a teacher that needs none.
    zoom_out_pad_to: int = 0
    # Two optimizer steps per iteration, as AugKD's released code does: the main terms, then the
    # auxiliary ones on the updated student. (The release also keeps the first step's gradients in
    # the second; here each step has only its own terms' gradients.) On by default: one step over the
    # sum was 0.15 / 0.11 dB under kd, two steps 0.18 / 0.11 dB over it (Set5 / Set14, 3 seeds, 2,000
    # iterations; benchmarks/RESULTS.md, "Section 3").
    two_step: bool = True


class AugKD(Method):
    name = "augkd"

    def __init__(self, *, student, teacher, args: dict) -> None:
        super().__init__(student=student, teacher=teacher)
        cfg = parse_method_args(AugKDConfig, args, method=self.name)
        self.scale = int(student.scale)
        if not 0 <= cfg.n_zoom_in <= self.scale**2:
            raise ConfigError(f"augkd: n_zoom_in must be in [0, {self.scale ** 2}] at x{self.scale}, got {cfg.n_zoom_in}")
        if not 0.0 <= cfg.p <= 1.0:
            raise ConfigError(f"augkd: p must be a probability, got {cfg.p}")
        if cfg.zoom_out_pad_to < 0:
            raise ConfigError(f"augkd: zoom_out_pad_to must be >= 0, got {cfg.zoom_out_pad_to}")
        self.cfg = cfg

    def term_weights(self) -> dict[str, float]:
        lp, lk = self.cfg.lambda_pix, self.cfg.lambda_kd
        return {"pix": lp, "kd": lk, "zoom_in": lk, "zoom_out_pix": lp, "zoom_out_kd": lk}

    @property
    def updates_per_step(self) -> int:
        return 2 if self.cfg.two_step else 1

    def forward(self, batch: dict[str, torch.Tensor], *, phase: int | None = None) -> dict[str, torch.Tensor]:
        """All terms in one loss; with ``two_step``, phase 0 gives the main terms and phase 1 (after the
        first optimizer step, so on the updated student) the zoom-in and zoom-out terms."""
        lq, gt, s, cfg = batch["lr"], batch["hr"], self.scale, self.cfg
        n = lq.shape[0] if phase != 1 else 0
        aux = phase != 0
        t_in, s_in = ([lq], [lq]) if n else ([], [])
        if aux and cfg.n_zoom_in:
            cells = torch.randperm(s * s)[: cfg.n_zoom_in].tolist()  # same cells for the whole batch
            x_zi = zoom_in_tiles(gt, scale=s, cells=cells).to(memory_format=_format(lq))
            flags = draw_flags(x_zi.shape[0], p=cfg.p)
            t_in.append(x_zi)
            s_in.append(apply_forward(x_zi, flags))
        parts: dict[str, torch.Tensor] = {}
        if t_in:  # one teacher call for lq and the zoom-in tiles (same size), one student call for both
            t_out, s_out = self.teacher(torch.cat(t_in)), self.student(torch.cat(s_in))
            if n:
                sr = s_out[:n].float()
                parts.update(pix=F.l1_loss(sr, gt), kd=F.l1_loss(sr, t_out[:n].float()))
            if aux and cfg.n_zoom_in:
                parts["zoom_in"] = F.l1_loss(apply_inverse(s_out[n:], flags).float(), t_out[n:].float())
        if aux and cfg.zoom_out:
            x_zo = zoom_out(lq.float(), scale=s).to(lq.dtype)
            s_zo = forward_padded(self.student, x_zo, req=_size_req(self.student), scale=s).float()
            t_req = _size_req(getattr(self.teacher, "model", self.teacher))
            t_req = dataclasses.replace(t_req, minimum=max(t_req.minimum, cfg.zoom_out_pad_to))
            t_zo = forward_padded(self.teacher, x_zo, req=t_req, scale=s).float()
            parts.update(zoom_out_pix=F.l1_loss(s_zo, lq.float()), zoom_out_kd=F.l1_loss(s_zo, t_zo))
        weights = self.term_weights()
        loss = sum((weights[k] * v for k, v in parts.items()), lq.new_zeros((), dtype=torch.float32))
        return {"loss": loss, **parts}

def _size_req(model: torch.nn.Module) -> SizeReq:
    return getattr(model, "size_req", None) or SizeReq()


def _format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() else torch.contiguous_format
