"""Every artifact kind that runs on this CPU: fp32 ONNX (simplified), fp16 ONNX, int8 QDQ ONNX, torch bf16."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from export_helpers import make_student

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.bundle.choose import open_runner
from srkd.export.build import export_bundle
from srkd.export.check import check_bundle

FAST = {"latency_sizes": (16,), "latency_runs": 2, "images": 2, "crop": 96}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    student = make_student(tmp_path_factory.mktemp("s") / "tiny.safetensors")
    return export_bundle(student, tmp_path_factory.mktemp("b") / "bundle", simplify=True, bf16=True, fp16=True,
                         int8=True, **FAST)


def test_every_artifact_is_listed_and_passed(bundle):
    kinds = [(a.file, a.backend, a.precision) for a in bundle.artifacts]
    assert kinds == [("student.safetensors", "torch", "fp32"), ("model.onnx", "onnxruntime", "fp32"),
                     ("student.safetensors", "torch", "bf16"), ("model.fp16.onnx", "onnxruntime", "fp16"),
                     ("model.int8.onnx", "onnxruntime", "int8")]
    assert sorted(p.name for p in bundle.path.iterdir()) == [
        "manifest.json", "model.fp16.onnx", "model.int8.onnx", "model.onnx", "student.safetensors"]
    for art in bundle.artifacts:
        p = art.parity
        assert p.passed and p.nan_count == 0, art.file
        assert art.latency.sizes[0].p50_ms > 0
    by = {a.precision: a for a in bundle.artifacts if a.backend != "torch" or a.precision == "bf16"}
    assert by["bf16"].parity.psnr_vs_ref >= 45 and by["bf16"].options["channels_last"] is True
    assert by["fp16"].parity.psnr_vs_ref >= 45 and by["fp16"].conversion["keep_io_types"] is True
    assert by["int8"].parity.criterion.endswith("(fp32 - 0.3)")
    assert by["fp32"].toolchain["simplified"] is True
    assert bundle.manifest.export.flags == ("--opset 17", "--simplify", "--bf16", "--fp16", "--int8")


def test_fp16_graph_keeps_float32_io(bundle):
    proto = onnx.load(str(bundle.path / "model.fp16.onnx"))
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    assert proto.graph.input[0].type.tensor_type.elem_type == f32
    assert proto.graph.output[0].type.tensor_type.elem_type == f32
    assert any(t.data_type == f16 for t in proto.graph.initializer)
    assert not any(t.data_type == f32 and len(t.dims) == 4 for t in proto.graph.initializer)  # conv weights all fp16


def test_int8_graph_is_qdq_per_channel(bundle):
    proto = onnx.load(str(bundle.path / "model.int8.onnx"))
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "Conv" in ops
    per_channel = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"
                   and any(a.name == "axis" for a in n.attribute)]
    assert per_channel  # weight scales per output channel
    q = next(a for a in bundle.artifacts if a.precision == "int8").quantization
    assert q.format == "QDQ" and q.weights == "int8 per-channel symmetric"
    assert q.activations == "uint8 asymmetric"  # no --trt int8: the faster CPU layout
    assert q.calibration.kind == "parity"  # the test student records no training data
    assert len(q.attempts) == 1 and q.attempts[0].passed


def test_runners_for_each_precision(bundle):
    x = np.random.default_rng(0).random((1, 3, 16, 12), dtype=np.float32)
    with open_runner(bundle.path, backend="torch") as ref:
        y = ref.infer(x)
    for backend, precision, cls, tol in [("onnxruntime", "fp16", OrtRunner, 2e-3), ("onnxruntime", "int8", OrtRunner, 0.05),
                                         ("torch", "bf16", TorchRunner, 0.05)]:
        with open_runner(bundle.path, backend=backend, precision=precision, device="cpu") as runner:
            assert isinstance(runner, cls) and runner.precision == precision
            out = runner.infer(x)
        assert out.shape == y.shape and out.dtype == np.float32 and np.abs(out - y).max() < tol, precision
    with open_runner(bundle.path, backend="torch", precision="bf16", device="cpu") as runner:
        assert runner.channels_last


def test_auto_precision_picks_a_passing_artifact(bundle):
    with open_runner(bundle.path, precision="auto", device="cpu") as runner:
        entry = next(a for a in bundle.artifacts if a.backend == runner.backend and a.precision == runner.precision)
    fastest = min(bundle.artifacts, key=lambda a: a.latency.sizes[0].p50_ms)
    assert entry is fastest


def test_check_rechecks_every_precision(bundle, tmp_path):
    checks = check_bundle(bundle.path, images=1, crop=64, sizes=(), heatmaps=tmp_path)
    assert [c.entry.precision for c in checks] == ["fp32", "fp32", "bf16", "fp16", "int8"]
    assert all(c.passed for c in checks)
    assert checks[0].heatmap is None  # the reference against itself: nothing to draw
    assert all(c.heatmap is not None and c.heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in checks[1:])
    json.dumps([c.to_dict() for c in checks])
