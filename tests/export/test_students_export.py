"""SPAN and Compact through ``srkd export`` (the real CLI): SPAN's branches folded into single 3x3
convolutions in every artifact, parity against the network as trained, and ``--spandrel``'s file."""
from __future__ import annotations

import json

import numpy as np
import onnx
import torch
from conftest import run_srkd
from onnx import numpy_helper

from srkd.models import build_model
from srkd.models.checkpoint import load_model, save_model

FAST = ("--images", "2", "--crop", "64", "--sizes", "16", "--runs", "2", "--threads", "1")


def _student(path, arch, **hp):
    torch.manual_seed(0)
    model = build_model(arch, {"scale": 4, **hp})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    save_model(path, model, provenance={"method": "test"})
    return model


def _conv_kernels(path) -> list[tuple[int, ...]]:
    graph = onnx.load(str(path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return [tuple(weights[n.input[1]].shape[2:]) for n in graph.node if n.op_type == "Conv"]


def test_span_bundle_is_folded_and_holds_the_file_for_spandrel(tmp_path):
    model = _student(tmp_path / "span.safetensors", "span", feature_channels=6)
    res = run_srkd("export", tmp_path / "span.safetensors", "--out", tmp_path / "b", "--spandrel", *FAST)
    assert res.returncode == 0, res.stderr
    kernels = _conv_kernels(tmp_path / "b" / "model.onnx")
    # one 3x3 conv for each branch set (conv_1, 3 per block, conv_2), the upsampler's, and conv_cat's 1x1
    assert kernels.count((3, 3)) == 1 + 3 * 6 + 1 + 1 and kernels.count((1, 1)) == 1 and len(kernels) == 22
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["model"]["hparams"]["branches"] is True  # the student file keeps its branches
    parity = {a["file"]: a["parity"] for a in manifest["artifacts"]}
    assert all(p["passed"] for p in parity.values()) and parity["model.onnx"]["psnr_vs_ref"] >= 80
    record = manifest["export"]["spandrel"]
    assert record["file"] == "span_x4.pth" and record["architecture"] == "SPAN" and "--spandrel" in manifest["export"]["flags"]
    assert record["bytes"] == (tmp_path / "b" / "span_x4.pth").stat().st_size
    assert [p["name"] for p in record["parity"]][0] == "srkd" and all(p["passed"] for p in record["parity"])
    assert "span_x4.pth" in res.stdout and "for spandrel" in res.stdout
    loaded, spec = load_model(tmp_path / "b" / "span_x4.pth")  # the public training layout, read back
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert spec.arch == "span" and spec.hparams["feature_channels"] == 6


def test_compact_exports_and_what_spandrel_cannot_express_is_refused_before_any_work(tmp_path):
    _student(tmp_path / "c.safetensors", "compact", num_feat=6, num_conv=2)
    res = run_srkd("export", tmp_path / "c.safetensors", "--out", tmp_path / "c", "--spandrel", *FAST)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "c" / "compact_x4.pth").is_file() and len(_conv_kernels(tmp_path / "c" / "model.onnx")) == 4
    sd = torch.load(tmp_path / "c" / "compact_x4.pth", weights_only=True)
    assert sorted(sd) == sorted(build_model("compact", {"num_feat": 6, "num_conv": 2}).state_dict())
    for name, arch, hp, why in (("s4.safetensors", "span", {"feature_channels": 4, "n_blocks": 4}, "n_blocks=4"),
                                ("relu.safetensors", "compact", {"num_feat": 4, "num_conv": 1, "act": "relu"},
                                 "act=relu")):
        _student(tmp_path / name, arch, **hp)
        res = run_srkd("export", tmp_path / name, "--out", tmp_path / "no", "--spandrel", *FAST)
        assert res.returncode == 1 and not (tmp_path / "no").exists()
        line = res.stderr.strip()
        assert "\n" not in line and name in line and why in line and "spandrel 0.4.2 loads SPAN with 6 blocks" in line


def test_upscale_runs_the_folded_network(tmp_path, photo):
    """A plain student file run by the torch backend is folded, and gives the trained network's output."""
    from srkd.serve.loader import open_model

    model = _student(tmp_path / "span.safetensors", "span", feature_channels=4, n_blocks=2)
    with open_model(tmp_path / "span.safetensors", backend="torch", device="cpu") as runner:
        assert runner.model.hparams["branches"] is False
        x = np.ascontiguousarray(photo[:20, :24].transpose(2, 0, 1)[None], dtype=np.float32) / 255
        y = runner.infer(x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert 10 * np.log10(1 / np.mean((y - ref) ** 2)) >= 80
