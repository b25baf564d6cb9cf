"""A 3x3 convolution trained as parallel branches and folded into one for inference (SPAN's Conv3XC).

Training form, with the public SPAN layout's keys: ``sk``, a 1x1 conv of the input, plus ``conv``, a
1x1 -> 3x3 -> 1x1 chain (widened by ``gain``) over the zero-padded input. Every stage is linear, so
their sum is one zero-padded 3x3 convolution (``eval_conv``, the folded form). The chain pads before
its first 1x1 conv, so that conv's bias reaches the padded positions as it reaches the others and the
two forms agree at the border too, up to float rounding. The fold is computed in float64.

``fold_for_inference(model)`` is the one way callers ask a model for its inference form: a model with
a ``folded()`` method (SPAN) gives its folded copy, any other model is returned as it is.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FoldedConv(nn.Module):
    """The inference form: one same-padded 3x3 convolution, under the public key ``eval_conv``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_conv(x)

    def unfolded(self, *, gain: int = 2) -> "BranchConv":
        """Branches that fold back to exactly this convolution: the chain carries it (identity 1x1s
        around it, zero elsewhere), the 1x1 skip is zero. Every product is with 0 or 1, so folding
        them again gives the same numbers bit for bit."""
        w, b = self.eval_conv.weight.detach(), self.eval_conv.bias.detach()
        c_out, c_in = w.shape[:2]
        rep = BranchConv(c_in, c_out, gain=gain).to(w.device, w.dtype)
        first, mid, last = rep.conv
        with torch.no_grad():
            for p in rep.parameters():
                p.zero_()
            first.weight[:c_in, :, 0, 0] = torch.eye(c_in, dtype=w.dtype)
            mid.weight[:c_out, :c_in] = w
            mid.bias[:c_out] = b
            last.weight[:, :c_out, 0, 0] = torch.eye(c_out, dtype=w.dtype)
        return rep


class BranchConv(nn.Module):
    """The training form: ``sk`` (1x1) + ``conv`` (1x1 -> 3x3 -> 1x1 on the padded input)."""

    def __init__(self, c_in: int, c_out: int, *, gain: int = 2) -> None:
        super().__init__()
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_in * gain, 1), nn.Conv2d(c_in * gain, c_out * gain, 3),
                                  nn.Conv2d(c_out * gain, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)

    def folded_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight [c_out, c_in, 3, 3], bias [c_out]) of the single convolution the branches sum to."""
        first, mid, last = (m for m in self.conv)
        w1, b1 = first.weight.detach().double()[:, :, 0, 0], first.bias.detach().double()
        w2, b2 = mid.weight.detach().double(), mid.bias.detach().double()
        w3, b3 = last.weight.detach().double()[:, :, 0, 0], last.bias.detach().double()
        weight = torch.einsum("on,nmuv,mi->oiuv", w3, w2, w1)
        bias = w3 @ (b2 + torch.einsum("nmuv,m->n", w2, b1)) + b3
        weight[:, :, 1, 1] += self.sk.weight.detach().double()[:, :, 0, 0]
        bias = bias + self.sk.bias.detach().double()
        return weight, bias

    def fold(self) -> FoldedConv:
        """The equivalent single convolution, in this module's dtype."""
        dtype, device = self.sk.weight.dtype, self.sk.weight.device
        weight, bias = self.folded_weights()
        out = FoldedConv(weight.shape[1], weight.shape[0]).to(device, dtype)
        with torch.no_grad():
            out.eval_conv.weight.copy_(weight.to(dtype))
            out.eval_conv.bias.copy_(bias.to(dtype))
        return out


def fold_for_inference(model: nn.Module) -> nn.Module:
    """``model.folded()`` (in ``model``'s train/eval mode) when the model can fold, else ``model``."""
    folded = getattr(model, "folded", None)
    return folded() if callable(folded) else model
