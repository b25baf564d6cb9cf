"""``scratch``: plain L1 to the ground truth, no teacher."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from srkd.distill.methods.base import Method, parse_method_args


@dataclasses.dataclass(kw_only=True)
class ScratchConfig:
    lambda_pix: float = 1.0


class Scratch(Method):
    name = "scratch"
    needs_teacher = False

    def __init__(self, *, student, teacher, args: dict) -> None:
        super().__init__(student=student, teacher=None)
        self.cfg = parse_method_args(ScratchConfig, args, method=self.name)

    def term_weights(self) -> dict[str, float]:
        return {"pix": self.cfg.lambda_pix}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pix = F.l1_loss(self.student(batch["lr"]).float(), batch["hr"])
        return {"loss": self.cfg.lambda_pix * pix, "pix": pix}
