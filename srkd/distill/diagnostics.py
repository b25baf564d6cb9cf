"""Training diagnostics: how strongly each loss term pulls on the student's weights."""
from __future__ import annotations

import torch

from srkd.distill.methods.base import Method


def term_grad_norms(method: Method, parts: dict[str, torch.Tensor]) -> dict[str, float]:
    """``weight * ||d part / d student||`` for each weighted loss part; the graph is kept for backward."""
    params = [p for p in method.student.parameters() if p.requires_grad]
    norms = {}
    for name, weight in method.term_weights().items():
        part = parts.get(name)
        if part is None or not part.requires_grad or not weight:
            continue
        grads = [g for g in torch.autograd.grad(part, params, retain_graph=True, allow_unused=True) if g is not None]
        if grads:
            norms[name] = weight * float(torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads])))
    return norms
