"""Any SR architecture that spandrel detects, wrapped as an output-level srkd model.

spandrel is an optional extra (``pip install 'srkd[spandrel]'``); it imports torchvision, which must
match the installed torch. Models loaded this way give outputs only: no ``forward_features`` /
``forward_from``, so feature-level KD (MiPKD) refuses them while scratch / kd / augkd accept them.
"""
from __future__ import annotations

import logging
import os

import torch
from torch import nn

from srkd.errors import BackendUnavailableError, CheckpointError
from srkd.models.padding import pad_to_req
from srkd.models.spec import SizeReq

log = logging.getLogger(__name__)
INSTALL_HINT = "install the optional extra: pip install 'srkd[spandrel]' (needs a torchvision that matches torch)"


def import_spandrel():
    """The spandrel module, or BackendUnavailableError saying why it cannot be imported."""
    try:
        import spandrel
    except Exception as exc:  # ImportError, or torchvision failing against this torch
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise BackendUnavailableError(f"spandrel is not importable ({msg}); {INSTALL_HINT}") from None
    return spandrel


def spandrel_available() -> bool:
    """Whether spandrel (and the torchvision it needs) imports here."""
    try:
        import_spandrel()
    except BackendUnavailableError:
        return False
    return True


class SpandrelModel(nn.Module):
    """A network built by spandrel; takes and returns RGB in [0, 1], padding to its size requirements."""

    arch = "spandrel"
    supports_features = False

    def __init__(self, net: nn.Module, *, architecture: str, scale: int, in_channels: int = 3,
                 out_channels: int = 3, size_req: SizeReq = SizeReq(), img_range: float = 1.0) -> None:
        super().__init__()
        self.net = net
        self.scale = scale
        self.img_range = img_range
        self.size_req = size_req
        self.hparams = dict(architecture=architecture, scale=scale, in_channels=in_channels,
                            out_channels=out_channels, img_range=img_range)

    @property
    def value_range(self) -> tuple[float, float]:
        """The value range the wrapped network is fed."""
        return (0.0, float(self.img_range))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        y = self.net(pad_to_req(x, self.size_req) * self.img_range) / self.img_range
        return y[:, :, : h * self.scale, : w * self.scale]


def load_spandrel(sd: dict[str, torch.Tensor], *, path: str | os.PathLike,
                  img_range: float | None = None) -> SpandrelModel:
    """Let spandrel recognise ``sd``; CheckpointError when it does not, or when it is not an SR model."""
    spandrel = import_spandrel()
    try:
        desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(sd)
    except spandrel.UnsupportedModelError:
        raise CheckpointError(f"{path}: unrecognised state-dict layout (not native, and spandrel does not know it)") from None
    except Exception as exc:  # spandrel's detectors raise assorted errors on odd inputs
        raise CheckpointError(f"{path}: spandrel failed to load it ({type(exc).__name__}: {str(exc)[:160]})") from None
    if not isinstance(desc, spandrel.ImageModelDescriptor) or desc.purpose != "SR" or desc.scale < 2:
        raise CheckpointError(f"{path}: spandrel sees a {desc.architecture.name} {desc.purpose} model "
                              f"(scale {desc.scale}); srkd needs a super-resolution model")
    req = desc.size_requirements
    if req.square:
        raise CheckpointError(f"{path}: {desc.architecture.name} needs square inputs, which srkd does not support")
    model = SpandrelModel(
        desc.model, architecture=desc.architecture.id, scale=desc.scale, in_channels=desc.input_channels,
        out_channels=desc.output_channels, img_range=img_range or 1.0,
        size_req=SizeReq(minimum=max(1, req.minimum), multiple_of=req.multiple_of),
    )
    log.info("%s: spandrel detected %s x%d", path, desc.architecture.name, desc.scale)
    return model.eval()
