"""Parity on real photos: passes for a faithful ONNX file, refuses broken or noisy outputs with figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
from export_helpers import make_student, perturb_onnx

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.backends.runner import Runner
from srkd.errors import ParityError
from srkd.export.onnx import export_onnx
from srkd.export.parity import check_parity, parity_images
from srkd.models.checkpoint import load_model


class Offset(Runner):
    """The reference output plus a fixed change (noise, NaN, a bias), to exercise the thresholds."""

    backend = "fake"

    def __init__(self, inner: Runner, *, precision: str, change) -> None:
        super().__init__(spec=inner.spec, precision=precision)
        self.inner, self.change = inner, change

    def activate_impl(self) -> None:
        self.inner.activate()

    def infer_impl(self, batch):
        return self.change(self.inner.infer(batch))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    model, spec = load_model(make_student(tmp / "student.safetensors"))
    export_onnx(model, tmp / "model.onnx")
    return tmp, model, spec


@pytest.fixture(scope="module")
def photos():
    return [img for _, img in parity_images(limit=2, crop=96)]


def test_sample_photos_are_real_and_cropped():
    pairs = parity_images(limit=3, crop=96)
    assert [n for n, _ in pairs] == ["astronaut", "chelsea", "coffee"]
    assert all(img.shape == (96, 96, 3) and img.dtype == np.uint8 and img.std() > 10 for _, img in pairs)


def test_onnx_passes_fp32(setup, photos):
    tmp, model, spec = setup
    with TorchRunner(model, spec=spec) as ref, OrtRunner(tmp / "model.onnx", spec=spec) as ort_runner:
        result = check_parity(ort_runner, ref, images=photos, scale=4)
    assert result.passed and result.require() is result
    assert result.psnr_vs_ref >= 60 and result.nan_count == 0 and result.images == 2
    assert result.max_abs < 1e-4 and abs(result.psnr_vs_hr - result.ref_psnr_vs_hr) < 0.01
    json.dumps(result.to_dict(), allow_nan=False)


def test_identical_outputs_serialise_as_null(setup, photos):
    _, model, spec = setup
    with TorchRunner(model, spec=spec) as a, TorchRunner(model, spec=spec) as b:
        result = check_parity(a, b, images=photos[:1], scale=4)
    assert result.passed and result.psnr_vs_ref == float("inf") and result.to_dict()["psnr_vs_ref"] is None


def test_broken_onnx_is_refused_with_figures(setup, photos, tmp_path):
    tmp, model, spec = setup
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((tmp / "model.onnx").read_bytes())
    perturb_onnx(broken)
    with TorchRunner(model, spec=spec) as ref, OrtRunner(broken, spec=spec) as ort_runner:
        result = check_parity(ort_runner, ref, images=photos, scale=4)
    assert not result.passed and result.psnr_vs_ref < 60 and result.max_abs > 1e-3
    with pytest.raises(ParityError, match=r"broken.onnx: parity failed: .*PSNR vs torch fp32 [\d.]+ dB.*>= 60 dB"):
        result.require(label=broken)


@pytest.mark.parametrize("precision, sigma, passed", [("fp32", 3e-3, False), ("fp16", 3e-3, True),
                                                      ("bf16", 3e-2, False)])
def test_thresholds_per_precision(setup, photos, precision, sigma, passed):
    _, model, spec = setup
    rng = np.random.default_rng(0)
    noisy = lambda y: y + rng.normal(0, sigma, y.shape).astype(np.float32)  # noqa: E731  (~50 dB / ~30 dB)
    with TorchRunner(model, spec=spec) as ref, Offset(ref, precision=precision, change=noisy) as cand:
        result = check_parity(cand, ref, images=photos, scale=4)
    assert result.passed is passed, result.summary()


def test_int8_compares_psnr_against_hr(setup, photos):
    _, model, spec = setup
    with TorchRunner(model, spec=spec) as ref:
        with Offset(ref, precision="int8", change=lambda y: y + 1e-3) as cand:
            small = check_parity(cand, ref, images=photos, scale=4)
        with Offset(ref, precision="int8", change=lambda y: y + 0.2) as cand:
            large = check_parity(cand, ref, images=photos, scale=4)
    assert small.passed and abs(small.threshold - (small.ref_psnr_vs_hr - 0.3)) < 1e-9
    assert not large.passed and "fp32 - 0.3" in large.criterion


def test_any_nan_fails(setup, photos):
    _, model, spec = setup

    def one_nan(y):
        y = y.copy()
        y[0, 0, 0, 0] = np.nan
        return y

    with TorchRunner(model, spec=spec) as ref, Offset(ref, precision="fp32", change=one_nan) as cand:
        result = check_parity(cand, ref, images=photos, scale=4)
    assert not result.passed and result.nan_count == 2
    json.dumps(result.to_dict(), allow_nan=False)


def test_unknown_precision_is_an_error(setup, photos):
    _, model, spec = setup
    with TorchRunner(model, spec=spec) as ref, Offset(ref, precision="fp8", change=lambda y: y) as cand:
        with pytest.raises(ParityError, match="fp8"):
            check_parity(cand, ref, images=photos, scale=4)


def test_parity_images_from_a_folder(tmp_path, photo):
    from srkd.data.io import write_image

    (tmp_path / "HR").mkdir()
    write_image(tmp_path / "HR" / "a.png", photo)
    write_image(tmp_path / "HR" / "b16.png", photo.astype(np.uint16) * 257)
    write_image(tmp_path / "HR" / "c.png", photo[:50, :60])
    pairs = parity_images(tmp_path, limit=2, crop=128)
    assert [n for n, _ in pairs] == ["a", "b16"]
    assert all(img.dtype == np.uint8 and img.shape == (128, 128, 3) for _, img in pairs)
    assert np.array_equal(pairs[0][1], pairs[1][1])
    assert parity_images(tmp_path, limit=None, crop=None)[2][1].shape == (50, 60, 3)
