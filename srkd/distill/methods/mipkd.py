"""``mipkd``: MiPKD (ICLR 2025), KD with a multi-granularity mixture of priors.

Teacher and student bodies are split into K aligned stages (tap k after ``round(k * n / K)`` blocks
of each net, so depth mismatch maps proportionally). At each tap a Feature Prior Mixer encodes both
features into one latent (separate conv encoders E_T^k, E_S^k), mixes them with a random 3-D
Bernoulli mask M of ratio r (``z = M * z_T + (1 - M) * z_S``) and decodes back to the teacher's
space (D^k). A Block Prior Mixer then picks one tap k per step and continues D^k(z), with probability
``block_prob`` through the teacher's remaining blocks and tail, else through the student's (after a
learned 1x1 projection to the student's width)::

    loss = lambda_pix * L1(S(x), gt) + lambda_kd * L1(S(x), T(x))
         + lambda_feat * sum_k L1(D^k(z^k), f_T^k)            (feat)
         + lambda_block * L1(y_mix, T(x))                     (block)
         + lambda_ae * sum_k L1(D^k(E_T^k(f_T^k)), f_T^k)     (ae)

Only the feature-access contract (``forward_features``/``forward_from``, which is also given the LR
input for tails that use it) is used, so any native
architecture pair works. The teacher runs once per step (its output is ``forward_from`` after all
blocks); the teacher-side block pass runs with autograd on, so gradients flow through the frozen
teacher's remaining blocks back to the mixer and the student, while its weights get none.
With ``feat_norm`` (default) each tapped feature is divided by its batch mean absolute value (no
gradient) before encoding and in the feature losses, so L_feat and L_ae are relative errors whatever
the network's internal value range (EDSR-family features live on a 0-255 scale).
"""
from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn.functional as F
from torch import nn

from srkd.distill.methods.base import Method, parse_method_args
from srkd.distill.mixers import BlockPriorMixer, FeaturePriorMixer, MaskRatio, stage_positions
from srkd.errors import ConfigError, TrainingError

log = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class MiPKDConfig:
    """Options of ``--method mipkd`` (``--method-arg key=value``)."""

    lambda_pix: float = 1.0
    lambda_kd: float = 1.0
    # The published 1.0 lets the feature term steer the student (56 % of its gradient) and left mipkd
    # 0.03 / 0.04 dB under kd; 0.1 is 0.10 / 0.05 dB over kd (Set5 / Set14, 3 seeds, 2,000 steps;
    # benchmarks/RESULTS.md, "Section 3")
    lambda_feat: float = 0.1
    # The block mixer (published: 0.1) and K=4 stages (published) gain nothing measurable here: K=2 without
    # it is 0.11 / 0.07 dB over kd (every seed over 0.05) against 0.10 / 0.05 for K=4 with it, at about
    # two thirds of the step time (RESULTS.md, "MiPKD ablation"). lambda_block=0.1 stages=4: as published.
    lambda_block: float = 0.0
    lambda_ae: float = 1.0
    stages: int = 2  # K distillation positions
    latent_channels: int | None = None  # C_z; None: the student's width at each position
    mask_ratio: float = 0.5  # r, share of teacher entries in the mix (fixed mode; adaptive start)
    mask_mode: str = "fixed"  # fixed | adaptive (DPK-style, see mixers.MaskRatio)
    ratio_min: float = 0.1  # adaptive ratio is clipped to [ratio_min, ratio_max]
    ratio_max: float = 0.9
    ratio_momentum: float = 0.9  # smoothing of the adaptive ratio per step
    block_prob: float = 0.5  # probability that the mixed feature continues through the teacher
    feat_norm: bool = True  # features divided by their mean |value| before mixing and the losses

    def validate(self) -> "MiPKDConfig":
        if self.mask_mode not in ("fixed", "adaptive"):
            raise ConfigError(f"mipkd: mask_mode must be fixed or adaptive, got {self.mask_mode!r}")
        for name in ("mask_ratio", "ratio_min", "ratio_max", "block_prob"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ConfigError(f"mipkd: {name} must be in [0, 1], got {getattr(self, name)}")
        if self.ratio_min > self.ratio_max:
            raise ConfigError(f"mipkd: ratio_min {self.ratio_min} > ratio_max {self.ratio_max}")
        if not 0.0 <= self.ratio_momentum < 1.0:
            raise ConfigError(f"mipkd: ratio_momentum must be in [0, 1), got {self.ratio_momentum}")
        if int(self.stages) < 1:
            raise ConfigError(f"mipkd: stages must be >= 1, got {self.stages}")
        if self.latent_channels is not None and int(self.latent_channels) < 1:
            raise ConfigError(f"mipkd: latent_channels must be >= 1, got {self.latent_channels}")
        if not isinstance(self.feat_norm, bool):
            raise ConfigError(f"mipkd: feat_norm must be true or false, got {self.feat_norm!r}")
        for name in ("lambda_pix", "lambda_kd", "lambda_feat", "lambda_block", "lambda_ae"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"mipkd: {name} must be >= 0, got {getattr(self, name)}")
        return self


def block_widths(model: nn.Module) -> list[int]:
    """Channel count of every body block's output, from one ``forward_features`` call on a small
    constant input (no RNG is consumed; the model's train/eval mode is restored)."""
    req = getattr(model, "size_req", None)
    side = max(8, getattr(req, "minimum", 1))
    side += (-side) % getattr(req, "multiple_of", 1)
    param = next(model.parameters())
    channels = int(getattr(model, "hparams", {}).get("in_channels", 3))
    x = torch.full((1, channels, side, side), 0.5, device=param.device, dtype=param.dtype)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, feats = model.forward_features(x)
    finally:
        model.train(was)
    return [int(f.shape[1]) for f in feats]


class MiPKD(Method):
    """MiPKD over any teacher/student pair with the feature-access contract; the mixers are its own
    submodules (optimised with the student, saved for resume, never exported)."""

    name = "mipkd"
    needs_features = True

    def __init__(self, *, student, teacher, args: dict) -> None:
        super().__init__(student=student, teacher=teacher)
        cfg = parse_method_args(MiPKDConfig, args, method=self.name).validate()
        if teacher is None:
            raise ConfigError("mipkd needs a teacher (--teacher NAME|FILE)")
        from srkd.distill.methods import require_features  # the registry, complete once this module is loaded

        require_features(teacher.model, method=self.name, name="teacher")
        require_features(student, method=self.name, name="student")
        t_widths, s_widths = block_widths(teacher.model), block_widths(student)
        k = int(cfg.stages)
        if k > min(len(t_widths), len(s_widths)):
            raise ConfigError(f"mipkd: stages={k} needs at least {k} body blocks in each net; the teacher has "
                              f"{len(t_widths)}, the student {len(s_widths)}")
        self.pos_t, self.pos_s = stage_positions(len(t_widths), k), stage_positions(len(s_widths), k)
        c_t = [t_widths[p - 1] for p in self.pos_t]
        c_s = [s_widths[p - 1] for p in self.pos_s]
        self.fpm = nn.ModuleList(
            FeaturePriorMixer(teacher_channels=ct, student_channels=cs, latent=int(cfg.latent_channels or cs))
            for ct, cs in zip(c_t, c_s))
        self.bpm = BlockPriorMixer(teacher_channels=c_t, student_channels=c_s) if cfg.lambda_block else None
        self.ratio = MaskRatio(stages=k, mode=cfg.mask_mode, ratio=cfg.mask_ratio, low=cfg.ratio_min,
                               high=cfg.ratio_max, momentum=cfg.ratio_momentum)
        self.scale = int(student.scale)
        self.cfg = cfg
        n_helper = sum(p.numel() for p in self.helper_parameters())
        log.info("mipkd: taps after teacher blocks %s and student blocks %s; %d mixer parameters",
                 self.pos_t, self.pos_s, n_helper)

    def term_weights(self) -> dict[str, float]:
        c = self.cfg
        return {"pix": c.lambda_pix, "kd": c.lambda_kd, "feat": c.lambda_feat, "block": c.lambda_block, "ae": c.lambda_ae}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss and its parts (``pix kd feat block ae``) plus the mean mask ratio, for the log."""
        lq, gt, cfg = batch["lr"], batch["hr"], self.cfg
        h, w = lq.shape[-2] * self.scale, lq.shape[-1] * self.scale
        stem_t, feats_t = self.teacher.features(lq)
        with torch.no_grad():  # T(x) from the features already computed: the teacher runs once
            t_out = self.teacher.model.forward_from(len(feats_t), feats_t, stem_t, x=lq)[..., :h, :w].float()
        stem_s, feats_s = self.student.forward_features(lq)
        sr = self.student.forward_from(len(feats_s), feats_s, stem_s, x=lq)[..., :h, :w].float()
        pix, kd = F.l1_loss(sr, gt), F.l1_loss(sr, t_out)

        feat, ae, mixed, norms = sr.new_zeros(()), sr.new_zeros(()), [], []
        for k, (pt, ps) in enumerate(zip(self.pos_t, self.pos_s)):
            f_t, f_s = feats_t[pt - 1], feats_s[ps - 1]
            if f_t.shape[-2:] != f_s.shape[-2:]:
                raise TrainingError(f"mipkd: teacher and student features differ in size at stage {k + 1} "
                                    f"({tuple(f_t.shape[-2:])} vs {tuple(f_s.shape[-2:])}); use a --patch that "
                                    "is a multiple of both models' size requirement (e.g. SwinIR's window)")
            if self.training:
                self.ratio.update(k, f_t, f_s)
            n_t, n_s = (_mean_abs(f_t), _mean_abs(f_s)) if cfg.feat_norm else (1.0, 1.0)
            target = f_t / n_t
            d_mix, d_ae = self.fpm[k](target, f_s / n_s, ratio=self.ratio(k))
            feat = feat + F.l1_loss(d_mix.float(), target.float())
            ae = ae + F.l1_loss(d_ae.float(), target.float())
            mixed.append(d_mix)
            norms.append((n_t, n_s))

        block = self._block_mix(mixed, norms, feats_t, stem_t, feats_s, stem_s, lq)
        block = F.l1_loss(block[..., :h, :w].float(), t_out) if block is not None else sr.new_zeros(())

        loss = (cfg.lambda_pix * pix + cfg.lambda_kd * kd + cfg.lambda_feat * feat + cfg.lambda_block * block
                + cfg.lambda_ae * ae)
        return {"loss": loss, "pix": pix, "kd": kd, "feat": feat, "block": block, "ae": ae,
                "mask_ratio": self.ratio.ratio.mean().detach()}

    def _block_mix(self, mixed, norms, feats_t, stem_t, feats_s, stem_s, lq) -> torch.Tensor | None:
        """y_mix: the mixed feature D^k(z) at one random tap k, continued through the teacher's remaining
        blocks (probability ``block_prob``) or the student's; None when ``lambda_block`` is 0."""
        if not self.cfg.lambda_block:
            return None
        k = int(torch.randint(len(self.pos_t), (1,)).item())
        pt, ps = self.pos_t[k], self.pos_s[k]
        if float(torch.rand(1)) < self.cfg.block_prob:  # frozen teacher weights; gradients pass through
            with torch.enable_grad():
                return self.teacher.model.forward_from(pt, feats_t[: pt - 1] + [mixed[k] * norms[k][0]], stem_t, x=lq)
        return self.student.forward_from(ps, feats_s[: ps - 1] + [self.bpm(k, mixed[k]) * norms[k][1]], stem_s, x=lq)


def _mean_abs(f: torch.Tensor) -> torch.Tensor:
    return f.detach().abs().mean().float().clamp_min(1e-6).to(f.dtype)
