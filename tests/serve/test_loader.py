"""Any artifact: a bare srkd .onnx file, refusals with reasons, ``auto`` taking the fastest artifact that passed."""
import json

import numpy as np
import onnx
import pytest
import torch

import srkd
from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError
from srkd.export.onnx import export_onnx
from srkd.models import build_model
from srkd.models.checkpoint import save_model
from srkd.serve.loader import open_model

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).eval()


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(model, path)
    return path


def test_bare_onnx_with_srkd_metadata_runs(model, onnx_file, photo):
    crop = photo[180:244, 200:280]
    with srkd.load(onnx_file, tile=0) as up:
        assert up.name == "onnxruntime:fp32" and up.scale == 2
        out = up.upscale(crop)
    x = torch.from_numpy(crop.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.inference_mode():
        ref = model(x)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - ref).max() <= 1


def test_onnx_without_metadata_and_engines_are_refused(onnx_file, tmp_path):
    proto = onnx.load(str(onnx_file))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    with pytest.raises(CheckpointError, match="without srkd metadata"):
        open_model(tmp_path / "plain.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not protobuf at all \xff\xfe")
    with pytest.raises(CheckpointError, match="junk.onnx"):
        open_model(tmp_path / "junk.onnx")
    (tmp_path / "m.engine").write_bytes(b"\x00")
    with pytest.raises(CheckpointError, match="pass the bundle folder"):
        open_model(tmp_path / "m.engine")
    with pytest.raises(ConfigError, match="runs on onnxruntime"):
        open_model(onnx_file, backend="torch")


def test_auto_follows_the_manifest_figures(tmp_path, model):
    from srkd.export.build import export_bundle

    save_model(tmp_path / "s.safetensors", model)
    bundle = tmp_path / "b"
    export_bundle(tmp_path / "s.safetensors", bundle, images=1, crop=64, latency_sizes=(32,), latency_runs=1)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for a in manifest["artifacts"]:  # make torch the recorded winner, whatever was measured
        for s in a["latency"]["sizes"]:
            s["p50_ms"] = 1.0 if a["backend"] == "torch" else 100.0
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert srkd.load(bundle, tile=0).name == "torch:fp32"
    assert srkd.load(bundle, tile=0, backend="onnxruntime").name == "onnxruntime:fp32"
    for a in manifest["artifacts"]:
        a["parity"]["passed"] = a["backend"] != "torch"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert srkd.load(bundle, tile=0).name == "onnxruntime:fp32"
    with pytest.raises(BackendUnavailableError, match="failed parity"):
        srkd.load(bundle, backend="torch")


def test_an_artifact_that_cannot_start_gives_way(tmp_path, model, monkeypatch):
    from srkd.bundle.reader import Bundle
    from srkd.export.build import export_bundle

    save_model(tmp_path / "s.safetensors", model)
    export_bundle(tmp_path / "s.safetensors", tmp_path / "b", images=1, crop=64, latency_sizes=(32,), latency_runs=1)
    real = Bundle.runner

    def no_ort(self, entry, **kw):
        if entry.backend == "onnxruntime":
            raise BackendUnavailableError("onnxruntime is not installed (pip install 'srkd[cpu]')")
        return real(self, entry, **kw)

    monkeypatch.setattr(Bundle, "runner", no_ort)
    assert srkd.load(tmp_path / "b", tile=0).name == "torch:fp32"
    with pytest.raises(BackendUnavailableError, match="could not start: onnxruntime is not installed"):
        srkd.load(tmp_path / "b", backend="onnxruntime")
