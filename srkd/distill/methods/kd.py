"""``kd``: vanilla output distillation, ``lambda_pix * L1(S, GT) + lambda_kd * L1(S, T)``."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from srkd.distill.methods.base import Method, parse_method_args


@dataclasses.dataclass(kw_only=True)
class KDConfig:
    lambda_pix: float = 1.0
    lambda_kd: float = 1.0


class KD(Method):
    name = "kd"

    def __init__(self, *, student, teacher, args: dict) -> None:
        super().__init__(student=student, teacher=teacher)
        self.cfg = parse_method_args(KDConfig, args, method=self.name)

    def term_weights(self) -> dict[str, float]:
        return {"pix": self.cfg.lambda_pix, "kd": self.cfg.lambda_kd}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sr = self.student(batch["lr"]).float()
        target = self.teacher(batch["lr"]).float()
        pix = F.l1_loss(sr, batch["hr"])
        kd = F.l1_loss(sr, target)
        return {"loss": self.cfg.lambda_pix * pix + self.cfg.lambda_kd * kd, "pix": pix, "kd": kd}
