"""ONNX export: one self-contained file, dynamic batch/height/width, output dims named apart."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from export_helpers import TINY

from srkd.export.onnx import export_onnx
from srkd.models import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("edsr", TINY).eval()


def _dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_export_is_one_dynamic_file(model, tmp_path, dynamo):
    path = tmp_path / "model.onnx"
    info = export_onnx(model, path, dynamo=dynamo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no .data file, no temp left
    proto = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(proto)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert [i.name for i in proto.graph.input] == ["lr"] and [o.name for o in proto.graph.output] == ["sr"]
    assert _dims(proto.graph.input[0]) == ["batch", 3, "height", "width"]
    assert _dims(proto.graph.output[0]) == ["batch", 3, "out_height", "out_width"]
    assert info["exporter"] == ("dynamo" if dynamo else "torchscript") and info["opset"] == 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["srkd"])["arch"] == "edsr"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 20, 28), (2, 3, 33, 17)]:  # two sizes, one of them batch 2
        x = rng.random(shape, dtype=np.float32)
        (y,) = session.run(None, {"lr": x})
        assert y.shape == (shape[0], 3, shape[2] * 4, shape[3] * 4)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        assert np.abs(y - ref).max() < 1e-4


def test_export_replaces_atomically(model, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    export_onnx(model, path)
    assert onnx.load(str(path)).graph.input[0].name == "lr"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
