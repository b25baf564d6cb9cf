"""MiPKD's trainable helpers: the Feature Prior Mixer, the Block Prior Mixer's projections, the 3-D
random mask and the DPK-style adaptive mask ratio.

Everything here is a submodule of the method, never of the student, so exports drop it.
"""
from __future__ import annotations

import torch
from torch import nn


def stage_positions(n_blocks: int, stages: int) -> list[int]:
    """Block counts after each of ``stages`` equal stages of an ``n_blocks``-block body.

    Position k (1-based) is ``round(k * n / K)`` with halves rounded up, so the tap after stage k is
    block index ``position - 1`` and the last tap is the last block. Positions are strictly increasing
    when ``stages <= n_blocks``.
    """
    if not 1 <= stages <= n_blocks:
        raise ValueError(f"{stages} stages do not fit a body of {n_blocks} blocks")
    return [int((2 * k * n_blocks + stages) // (2 * stages)) for k in range(1, stages + 1)]


def _conv_pair(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_mid, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(c_mid, c_out, 3, padding=1))


def random_mask(like: torch.Tensor, ratio: float | torch.Tensor) -> torch.Tensor:
    """A Bernoulli(``ratio``) mask shaped like ``like`` (N, C, H, W), drawn independently for every
    sample, channel and position (a 3-D mask per sample); 1 marks a teacher entry."""
    return (torch.rand(like.shape, device=like.device) < ratio).to(like.dtype)


class FeaturePriorMixer(nn.Module):
    """One distillation position: encoders E_T, E_S into a shared latent of width ``latent``, a mask
    mix of the two latents, and a decoder D back to the teacher's width.

    Encoders and decoder are two 3x3 convolutions with a LeakyReLU between them.
    """

    def __init__(self, *, teacher_channels: int, student_channels: int, latent: int) -> None:
        super().__init__()
        self.enc_t = _conv_pair(teacher_channels, latent, latent)
        self.enc_s = _conv_pair(student_channels, latent, latent)
        self.dec = _conv_pair(latent, latent, teacher_channels)

    def forward(self, f_t: torch.Tensor, f_s: torch.Tensor, *, ratio: float | torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(D(M * E_T(f_t) + (1 - M) * E_S(f_s)), D(E_T(f_t))): the mixed reconstruction and the
        teacher's auto-encoded one, both in the teacher's feature space."""
        z_t, z_s = self.enc_t(f_t), self.enc_s(f_s)
        m = random_mask(z_t, ratio)
        z = m * z_t + (1 - m) * z_s
        out = self.dec(torch.cat([z, z_t]))  # one decoder call for both
        return out[: f_t.shape[0]], out[f_t.shape[0]:]


class BlockPriorMixer(nn.Module):
    """1x1 projections from the teacher's width to the student's, one per position, so a mixed
    teacher-space feature can continue through the student's remaining blocks."""

    def __init__(self, *, teacher_channels: list[int], student_channels: list[int]) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(ct, cs, 1) for ct, cs in zip(teacher_channels, student_channels))

    def forward(self, k: int, feat: torch.Tensor) -> torch.Tensor:
        """Project a teacher-width feature at position ``k`` (0-based) to the student's width."""
        return self.proj[k](feat)


@torch.no_grad()
def linear_cka(x: torch.Tensor, y: torch.Tensor, *, max_samples: int = 4096) -> torch.Tensor:
    """Linear CKA between two feature maps (N, C1, H, W) and (N, C2, H, W), every pixel of every sample
    being one observation; a strided subset of at most ``max_samples`` pixels keeps it cheap.

    1 means the two representations agree up to a rotation, an isotropic scale and an offset; 0 means
    they are uncorrelated. Computed in float32 whatever the autocast state.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        a = x.float().permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        b = y.float().permute(0, 2, 3, 1).reshape(-1, y.shape[1])
        step = max(1, a.shape[0] // max_samples)
        a, b = a[::step], b[::step]
        a = a - a.mean(0)
        b = b - b.mean(0)
        a = a / a.norm().clamp_min(1e-12)
        b = b / b.norm().clamp_min(1e-12)
        cross = (b.T @ a).square().sum()
        norm = (a.T @ a).square().sum().sqrt() * (b.T @ b).square().sum().sqrt()
        return (cross / norm.clamp_min(1e-12)).clamp(0.0, 1.0)


class MaskRatio(nn.Module):
    """The share r_k of teacher entries in the mixed latent at each position.

    ``fixed``: r_k = ``ratio`` always. ``adaptive`` (DPK-style): the larger the teacher-student feature
    gap, the more teacher prior the mix gets. Each training step, per position k,
        gap_k = 1 - CKA(f_T^k, f_S^k)                      (linear CKA on the raw features)
        r_k  <- m * r_k + (1 - m) * clip(gap_k, r_min, r_max)
    starting from r_k = ``ratio``. The running r_k is a buffer, so it is saved with the method's state
    and restored on resume.
    """

    def __init__(self, *, stages: int, mode: str, ratio: float, low: float, high: float, momentum: float) -> None:
        super().__init__()
        self.mode, self.low, self.high, self.momentum = mode, low, high, momentum
        self.register_buffer("ratio", torch.full((stages,), float(ratio)))

    @torch.no_grad()
    def update(self, k: int, f_t: torch.Tensor, f_s: torch.Tensor) -> None:
        """Move r_k towards the current gap (adaptive mode only; a no-op when fixed)."""
        if self.mode != "adaptive":
            return
        gap = (1.0 - linear_cka(f_t, f_s)).clamp(self.low, self.high).to(self.ratio.device)
        self.ratio[k] = self.momentum * self.ratio[k] + (1.0 - self.momentum) * gap

    def forward(self, k: int) -> torch.Tensor:
        """The current ratio at position ``k`` (0-based), a 0-d tensor."""
        return self.ratio[k]
