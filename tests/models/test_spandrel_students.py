"""SPAN and Compact against spandrel itself (the spandrel environment, ``make test``'s first step): the
file ``srkd export --spandrel`` writes is loaded by ``spandrel.ModelLoader`` as it is and gives srkd's
output; and state dicts spandrel builds, in each public layout, are read by srkd."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from conftest import run_srkd

from srkd.models import build_model
from srkd.models.checkpoint import load_model, save_model

pytestmark = pytest.mark.spandrel


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _lr(photo: np.ndarray, side: int = 40) -> torch.Tensor:
    crop = photo[150 : 150 + side, 220 : 220 + side].astype(np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]


@pytest.mark.parametrize("arch,hp", [
    ("span", dict(scale=4, feature_channels=8)),
    ("span", dict(scale=2, feature_channels=6, norm=True)),
    ("span", dict(scale=3, feature_channels=6, branches=False)),  # a folded-only SPAN: identity branches
    ("compact", dict(scale=4, num_feat=8, num_conv=3)),
])
def test_export_spandrel_file_loads_in_spandrel_unchanged(spandrel, tmp_path, photo, arch, hp):
    torch.manual_seed(1)
    model = build_model(arch, hp).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_model(tmp_path / "student.safetensors", model)
    res = run_srkd("export", tmp_path / "student.safetensors", "--out", tmp_path / "b", "--spandrel", "--images", "2",
                   "--crop", "64", "--sizes", "16", "--runs", "2", "--threads", "1")
    assert res.returncode == 0, res.stderr
    path = tmp_path / "b" / f"{arch}_x{hp['scale']}.pth"
    record = json.loads((tmp_path / "b" / "manifest.json").read_text())["export"]["spandrel"]
    assert record["spandrel"] == spandrel.__version__ and [p["name"] for p in record["parity"]] == [
        "srkd", f"spandrel {spandrel.__version__}"]
    print(f"{path.name}: {path.stat().st_size:,} bytes")
    desc = spandrel.ModelLoader(device="cpu").load_from_file(str(path))
    assert desc.architecture.id == {"span": "SPAN", "compact": "Compact"}[arch] and desc.scale == hp["scale"]
    x = _lr(photo)
    with torch.no_grad():
        ours, theirs = model(x), desc.model.eval()(x)
    assert ours.abs().mean() > 0.05 and _psnr(theirs, ours) >= 80


def _spandrel_net(spandrel, arch: str, seed: int, **kwargs) -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.SPAN import SPAN

    torch.manual_seed(seed)
    net = {"SPAN": SPAN, "Compact": Compact}[arch](num_in_ch=3, num_out_ch=3, **kwargs)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("layout", ["span", "span-no-norm", "span-folded", "compact-params_ema", "compact-params"])
def test_state_dicts_spandrel_builds_are_read(spandrel, tmp_path, photo, scale, layout):
    if layout.startswith("span"):
        net = _spandrel_net(spandrel, "SPAN", scale, feature_channels=4, upscale=scale, norm=layout != "span-no-norm")
    else:
        net = _spandrel_net(spandrel, "Compact", scale, num_feat=4, num_conv=2, upscale=scale)
    x = _lr(photo, 17)
    with torch.no_grad():
        expected = net(x)  # SPAN: eval mode fills eval_conv from the branches, as a saved checkpoint has it
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    if layout == "span-folded":
        sd = {k: v for k, v in sd.items() if not re.search(r"\.(sk|conv\.\d)\.", k)}
    if layout.startswith("compact"):
        sd = {layout.split("-")[1]: sd}
    torch.save(sd, tmp_path / "w.pth")
    model, spec = load_model(tmp_path / "w.pth")
    assert spec.arch == layout.split("-")[0] and spec.scale == scale
    with torch.no_grad():
        assert _psnr(model(x), expected) >= 80
