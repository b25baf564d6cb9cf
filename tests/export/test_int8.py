"""INT8: calibration sources and patches, the fp32-kept nodes, and the remedy search."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import make_student

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.backends.runner import Runner
from srkd.data.io import write_image
from srkd.errors import DataError, ParityError
from srkd.export.calib import calibration_patches, find_calib_source
from srkd.export.int8 import DEFAULT_INT8, build_int8, remedies
import srkd.export.int8 as int8_mod
from srkd.export.onnx import export_onnx
from srkd.export.parity import parity_images
from srkd.export.quantize import Int8Settings, fp32_ends, quantize_int8
from srkd.models.checkpoint import load_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    model, spec = load_model(make_student(tmp / "student.safetensors"))
    export_onnx(model, tmp / "model.onnx")
    return tmp, model, spec


@pytest.fixture(scope="module")
def photos():
    return [img for _, img in parity_images(limit=2, crop=96)]


def test_calib_source_order(tmp_path, photo):
    (tmp_path / "train" / "sub").mkdir(parents=True)
    write_image(tmp_path / "train" / "sub" / "a.png", photo[:200, :200])
    explicit = find_calib_source(tmp_path / "train", meta={})
    assert explicit.kind == "calib" and [p.name for p in explicit.paths] == ["a.png"]
    meta = {"provenance": {"data": [str(tmp_path / "train")]}}
    assert find_calib_source(None, meta=meta).kind == "provenance"
    relative = {"provenance": {"data": ["train"]}}  # relative to the checkpoint's folder
    assert find_calib_source(None, meta=relative, student=tmp_path / "s.safetensors").kind == "provenance"
    gone = {"provenance": {"data": ["/no/such/folder"]}}
    assert find_calib_source(None, meta=gone).kind == "parity"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no calibration images"):
        find_calib_source(tmp_path / "empty", meta={})


def test_calibration_patches_are_real_lr_and_seeded(tmp_path, photo):
    write_image(tmp_path / "a.png", photo)
    write_image(tmp_path / "small.png", photo[:40, :50])  # smaller than one HR patch: padded, not skipped
    source = find_calib_source(tmp_path, meta={})
    a = calibration_patches(source, count=5, patch=12, scale=4, seed=3)
    b = calibration_patches(source, count=5, patch=12, scale=4, seed=3)
    assert a.shape == (5, 3, 12, 12) and a.dtype == np.float32 and np.array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.05
    parity = find_calib_source(None, meta={})
    c = calibration_patches(parity, count=3, patch=10, scale=4, parity_photos=[photo], multiple_of=4)
    assert c.shape == (3, 3, 12, 12)


def test_fp32_ends_names_first_last_and_upsampler(setup):
    tmp, _, _ = setup
    from srkd.export.quantize import _named

    proto = _named(onnx.load(str(tmp / "model.onnx")))
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    kept = fp32_ends(proto)
    d2s = [n.name for n in proto.graph.node if n.op_type == "DepthToSpace"]
    assert kept[:2] == [convs[0].name, convs[-1].name] and len(d2s) == 2 and set(d2s) <= set(kept)
    assert len(kept) == 2 + 2 + 2  # x4 EDSR: two conv + shuffle stages


def test_keep_ends_leaves_those_convs_float(setup, tmp_path):
    tmp, _, _ = setup
    patches = np.random.default_rng(0).random((4, 3, 12, 12), dtype=np.float32)
    info = quantize_int8(tmp / "model.onnx", tmp_path / "q.onnx", patches=patches,
                         settings=Int8Settings(images=4, patch=12, keep_fp32="ends"))
    proto = onnx.load(str(tmp_path / "q.onnx"))
    weights_dq = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    for node in proto.graph.node:
        if node.op_type == "Conv":
            quantized = node.input[1] in weights_dq
            assert quantized != (node.name in info["fp32_nodes"]), node.name


def test_remedy_order():
    recipes = remedies(DEFAULT_INT8)
    assert recipes[0] == DEFAULT_INT8 and len(recipes) == len(set(recipes)) == 7
    assert recipes[1].keep_fp32 == "ends" and recipes[2].images == 4 * DEFAULT_INT8.images
    assert [r.calibration for r in recipes[3:5]] == ["entropy", "percentile"]


class Degraded(Runner):
    """An ORT int8 runner whose output gets ``bias`` added: a stand-in for a badly calibrated model."""

    backend = "onnxruntime"

    def __init__(self, inner: OrtRunner, bias: float) -> None:
        super().__init__(spec=inner.spec, precision="int8")
        self.inner, self.bias = inner, bias

    def activate_impl(self):
        self.inner.activate()

    def infer_impl(self, batch):
        return self.inner.infer(batch) + self.bias


def _search(setup, photos, tmp_path, monkeypatch, *, failing):
    tmp, model, spec = setup
    tried = []
    real = int8_mod.quantize_int8

    def recording(fp32, out, *, patches, settings):
        tried.append(settings)
        return real(fp32, out, patches=patches, settings=settings)

    monkeypatch.setattr(int8_mod, "quantize_int8", recording)
    open_candidate = lambda p: Degraded(OrtRunner(p, spec=spec, precision="int8"),  # noqa: E731
                                        0.2 if failing(tried[-1]) else 0.0)
    rng = np.random.default_rng(0)
    with TorchRunner(model, spec=spec) as ref:
        outcome = build_int8(tmp / "model.onnx", tmp_path / "model.int8.onnx", reference=ref, open_candidate=open_candidate,
                             hr_images=photos, scale=4, settings=dataclasses.replace(DEFAULT_INT8, images=4, patch=12),
                             patches=lambda s: rng.random((s.images, 3, s.patch, s.patch), dtype=np.float32))
    return tried, outcome


def test_remedy_search_keeps_the_first_recipe_that_passes(setup, photos, tmp_path, monkeypatch):
    tried, outcome = _search(setup, photos, tmp_path, monkeypatch, failing=lambda s: s.keep_fp32 == "none")
    assert [s.keep_fp32 for s in tried] == ["none", "ends"]
    assert [a.parity.passed for a in outcome.attempts] == [False, True] and outcome.parity.passed
    assert outcome.info["fp32_nodes"] and (tmp_path / "model.int8.onnx").is_file()
    assert not (tmp_path / "model.int8.trial.onnx").exists()


def test_remedy_search_refuses_with_every_figure(setup, photos, tmp_path, monkeypatch):
    with pytest.raises(ParityError) as info:
        _search(setup, photos, tmp_path, monkeypatch, failing=lambda s: True)
    text = str(info.value)
    assert "no int8 recipe keeps PSNR vs HR within the bound" in text and "(fp32 - 0.3)" in text
    assert text.count("drop ") == 7 and "entropy" in text and "percentile" in text
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_int8_export_with_calib_folder(tmp_path, photo):
    from srkd.export.build import export_bundle

    (tmp_path / "calib").mkdir()
    write_image(tmp_path / "calib" / "a.png", photo)
    student = make_student(tmp_path / "s.safetensors")
    made = export_bundle(student, tmp_path / "b", int8=True, calib=str(tmp_path / "calib"), latency_sizes=(16,),
                         latency_runs=1, images=1, crop=64, int8_settings=Int8Settings(images=4, patch=16))
    q = made.find(backend="onnxruntime", precision="int8").quantization
    assert q.calibration.to_dict() == {"kind": "calib", "source": str(tmp_path / "calib"), "images_available": 1}
    assert q.settings["images"] == 4 and Path(made.path / "model.int8.onnx").is_file()
