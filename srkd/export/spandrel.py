"""``srkd export --spandrel``: the student as ``<arch>_x<scale>.pth`` in the layout spandrel detects
(chaiNNer, ComfyUI), written into the bundle and checked by reading it back.

The file is read back by srkd's own reader of the public layout and, where spandrel imports, by
spandrel itself; each reading must reproduce the torch fp32 reference on the parity photos at the
fp32 threshold. What spandrel cannot express is refused before any export work
(``srkd.models.spandrel_export``).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srkd.backends.pytorch.runner import TorchRunner
from srkd.backends.runner import Runner
from srkd.bundle.manifest import SpandrelFile
from srkd.bundle.records import Parity
from srkd.errors import CheckpointError
from srkd.export.parity import ParityResult, check_parity
from srkd.fsutil import sha256_file
from srkd.models import describe
from srkd.models.checkpoint import load_model
from srkd.models.spandrel_export import SPANDREL_ARCHS, save_spandrel, spandrel_file_name
from srkd.models.spandrel_import import load_spandrel, spandrel_available

log = logging.getLogger(__name__)


def _check(model: nn.Module, reference: Runner, images: list[np.ndarray], *, label: str) -> ParityResult:
    with TorchRunner(model, spec=describe(model)) as runner:
        result = check_parity(runner, reference, images=images, scale=reference.spec.scale)
    return dataclasses.replace(result, name=label)


def write_spandrel(model: nn.Module, folder: Path, *, reference: Runner, images: list[np.ndarray],
                   out: Path) -> SpandrelFile:
    """Write ``model`` (the student as trained: SPAN with its branches) into ``folder`` for spandrel and
    check every reading of it against ``reference``; ParityError naming the file when one fails."""
    path = save_spandrel(folder / spandrel_file_name(model), model)
    ours, spec = load_model(path)
    if spec.arch != model.arch:
        raise CheckpointError(f"{out / path.name}: srkd reads it back as {spec.arch}, not {model.arch}")
    checks = [_check(ours, reference, images, label="srkd")]
    version = None
    if spandrel_available():
        import spandrel

        version = spandrel.__version__
        theirs = load_spandrel(torch.load(path, map_location="cpu", weights_only=True), path=path)
        if theirs.hparams["architecture"] != SPANDREL_ARCHS[model.arch]:
            raise CheckpointError(f"{out / path.name}: spandrel {version} detects it as "
                                  f"{theirs.hparams['architecture']}, not {SPANDREL_ARCHS[model.arch]}")
        checks.append(_check(theirs, reference, images, label=f"spandrel {version}"))
    else:
        log.info("%s: spandrel does not import here; only srkd's reading of the file was checked", path.name)
    for result in checks:
        result.require(label=out / path.name)
        log.info("%s read by %s: %.1f dB against the torch fp32 reference", path.name, result.name,
                 result.psnr_vs_ref)
    return SpandrelFile(file=path.name, sha256=sha256_file(path), bytes=path.stat().st_size,
                        architecture=SPANDREL_ARCHS[model.arch], spandrel=version,
                        parity=tuple(Parity.from_dict(c.to_dict()) for c in checks))
