"""The frozen teacher: eval mode, no gradients, run in inference mode."""
from __future__ import annotations

import torch
from torch import nn


class FrozenTeacher(nn.Module):
    """Wraps a teacher so nothing can train it; outputs are ordinary tensors usable as loss targets."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "FrozenTeacher":
        return super().train(False)  # stays in eval mode whatever the trainer does

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y = self.model(x)
        return y.clone()  # leave inference mode so autograd may save it

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``forward_features`` of the teacher, without gradients."""
        with torch.no_grad():
            return self.model.forward_features(x)
