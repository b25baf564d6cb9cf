"""Small versions of every native student, as the conversion backends' tests build them."""
from __future__ import annotations

import torch

from srkd.models import build_model
from srkd.models.repconv import fold_for_inference

STUDENTS = {
    "edsr": {"scale": 4, "n_feats": 8, "n_blocks": 2},
    "imdn": {"scale": 2, "n_feats": 12, "n_blocks": 2},
    "rfdn": {"scale": 3, "n_feats": 16, "n_blocks": 2},
    "span": {"scale": 4, "feature_channels": 8, "n_blocks": 2},
    "compact": {"scale": 2, "num_feat": 8, "num_conv": 3},
    "rcan": {"scale": 2, "n_feats": 16, "n_resgroups": 1, "n_resblocks": 2, "reduction": 4},
}


def tiny_student(arch: str, *, hparams: dict | None = None, seed: int = 0) -> torch.nn.Module:
    """A seeded student in the form export converts (SPAN: branches folded)."""
    torch.manual_seed(seed)
    return fold_for_inference(build_model(arch, hparams if hparams is not None else STUDENTS[arch]).eval())
