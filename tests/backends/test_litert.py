"""LiteRT artifacts: litert-torch conversion at one fixed side, fp16 and int8 weights, parity, latency at that
side for every artifact (so --backend auto compares there), tiled upscaling of a non-square image, check,
the refusal of a broken artifact, and the missing-extra errors.

The interpreter (``srkd[litert]``) installs beside everything else; the converter (``srkd[litert-convert]``,
litert-torch with jax, torchao, transformers) lives in its own environment: the tests that convert are
marked ``litert`` and skip where it does not import (`make test-litert` runs them, and `make test`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_srkd
from tiny_students import STUDENTS as TINY
from tiny_students import tiny_student

from srkd.errors import BackendUnavailableError, ConversionError, ParityError
from srkd.models import build_model, describe
from srkd.models.checkpoint import save_model

SIDE = 32
FAST = {"latency_sizes": (16,), "latency_runs": 2, "images": 2, "crop": 96, "litert_side": SIDE}
HAVE_CONVERTER = importlib.util.find_spec("litert_torch") is not None

def converts(fn):
    """Marks a test that converts: ``litert``, and skipped (saying why) where litert-torch does not import."""
    fn = pytest.mark.skipif(not HAVE_CONVERTER, reason="litert-torch is not installed (its own environment: "
                            "`make test-litert`)")(fn)
    return pytest.mark.litert(fn)

STUDENTS = {**TINY,
    # fixed shapes let SwinIR's window partition convert too (pnnx's dynamic graph cannot: see test_ncnn.py)
    "swinir": {"scale": 2, "embed_dim": 12, "depths": (1,), "num_heads": (2,), "window_size": 8, "num_feat": 8,
               "upsampler": "pixelshuffledirect"},
}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def _hide(tmp_path, module: str) -> dict[str, str]:
    """An environment whose ``import module`` fails, as where the package is not installed."""
    (tmp_path / "hide").mkdir(exist_ok=True)
    (tmp_path / "hide" / f"{module}.py").write_text("raise ImportError('hidden by the test')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "hide"), os.environ.get("PYTHONPATH")]))}


def test_missing_extras_are_one_line_naming_them(tmp_path, monkeypatch):
    from srkd.backends.litert.convert import require_converter
    from srkd.backends.litert.runner import require_litert

    save_model(tmp_path / "s.safetensors", tiny_student("edsr"))
    done = subprocess.run([sys.executable, "-m", "srkd", "export", str(tmp_path / "s.safetensors"), "--out",
                           str(tmp_path / "b"), "--litert"], capture_output=True, text=True, timeout=300,
                          env=_hide(tmp_path, "litert_torch"))
    assert done.returncode == 1 and not (tmp_path / "b").exists() and done.stderr.count("\n") == 1
    assert "pip install 'srkd[litert-convert]'" in done.stderr or "pip install 'srkd[litert]'" in done.stderr
    monkeypatch.setitem(sys.modules, "litert_torch", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    with pytest.raises(BackendUnavailableError, match=r"LiteRT conversion needs litert-torch.*srkd\[litert-convert\]"):
        require_converter()
    with pytest.raises(BackendUnavailableError, match=r"LiteRT is not installed \(pip install 'srkd\[litert\]'\)"):
        require_litert()


def test_a_side_the_student_cannot_take_is_refused_before_any_work(tmp_path):
    save_model(tmp_path / "s.safetensors", build_model("swinir", STUDENTS["swinir"]))  # sides: multiples of 8
    done = run_srkd("export", tmp_path / "s.safetensors", "--out", tmp_path / "b", "--litert", "--litert-size", "36")
    assert done.returncode == 1 and not (tmp_path / "b").exists()
    assert done.stderr.strip() == "srkd: error: --litert-size 36: swinir needs a side of at least 1 and a multiple of 8"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from srkd.export.build import export_bundle

    root = tmp_path_factory.mktemp("litert")
    save_model(root / "student.safetensors", tiny_student("edsr"), provenance={"method": "test"})
    return export_bundle(root / "student.safetensors", root / "bundle", litert=True, int8=True, **FAST)


def _entry(bundle, precision):
    return next(a for a in bundle.artifacts if a.backend == "litert" and a.precision == precision)


@converts
def test_tflite_files_record_their_fixed_side_and_pass_parity(bundle):
    files = {(a.file, a.precision) for a in bundle.artifacts if a.backend == "litert"}
    assert files == {("model.tflite", "fp32"), ("model.fp16.tflite", "fp16"), ("model.int8.tflite", "int8")}
    for precision in ("fp32", "fp16", "int8"):
        entry = _entry(bundle, precision)
        assert entry.io["fixed_side"] == SIDE and entry.io["input"]["dims"] == [1, 3, SIDE, SIDE]
        assert entry.conversion["fixed_side"] == SIDE and not entry.conversion["dynamic"] and entry.parity.passed
        assert [s.size for s in entry.latency.sizes] == [SIDE] and entry.toolchain["fixed_side"] == SIDE
    assert _entry(bundle, "fp32").parity.psnr_vs_ref >= 60 and _entry(bundle, "fp16").parity.psnr_vs_ref >= 45
    assert _entry(bundle, "int8").parity.criterion.endswith("(fp32 - 0.3)")
    sizes = (bundle.path / "model.fp16.tflite").stat().st_size, (bundle.path / "model.tflite").stat().st_size
    assert sizes[0] < sizes[1]
    assert "--litert-size 32" in bundle.manifest.export.flags


@converts
def test_every_artifact_is_timed_at_the_side_so_auto_compares_there(bundle):
    from srkd.bundle.choose import choose_artifact

    for entry in bundle.artifacts:
        assert SIDE in [s.size for s in entry.latency.sizes], entry.key
    pick = choose_artifact(bundle.artifacts, precision="auto", device=torch.device("cpu"))
    at_side = {a.key: next(s.p50_ms for s in a.latency.sizes if s.size == SIDE) for a in bundle.artifacts}
    assert pick.key == min(at_side, key=at_side.__getitem__)


@converts
def test_upscale_tiles_a_non_square_image_to_the_side_and_check_passes(bundle, tmp_path, photo):
    import srkd
    from srkd.data.io import read_image, write_image

    crop = photo[200:237, 220:281]  # 37x61 LR: larger than a 32 px window both ways
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "p.png", crop)
    done = run_srkd("upscale", tmp_path / "in", "-m", bundle.path, "--backend", "litert", "--precision", "fp32",
                    "-o", tmp_path / "out", "--no-progress")
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    assert report["runner"] == "litert:fp32" and report["settings"]["tile"] == SIDE - 2 * 8
    with srkd.load(bundle.path, backend="torch", precision="fp32", tile=0) as reference:
        expected = reference.upscale(crop)
    got = read_image(tmp_path / "out" / "p_x4.png")
    diff = np.abs(got.astype(int) - expected)
    assert got.shape == expected.shape == (148, 244, 3) and diff.max() <= 3 and diff.mean() < 0.1

    done = run_srkd("check", bundle.path, "--images", "2", "--crop", "96", "--sizes", "16", "--runs", "2")
    assert done.returncode == 0 and "litert:int8" in done.stdout, done.stderr
    rechecked = json.loads((bundle.path / "manifest.json").read_text())
    for entry in rechecked["artifacts"]:
        assert SIDE in [s["size"] for s in entry["check"]["latency"]["sizes"]], entry["file"]


@converts
@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_every_native_student_converts(arch, tmp_path, photo):
    from srkd.backends.litert.convert import convert_to_tflite
    from srkd.backends.litert.runner import LiteRtRunner
    from srkd.backends.pytorch.runner import TorchRunner

    model = tiny_student(arch, hparams=STUDENTS[arch])
    spec = describe(model)
    convert_to_tflite(model, spec, tmp_path / "m.tflite", side=SIDE)
    x = np.ascontiguousarray(photo[100: 100 + SIDE, 200: 200 + SIDE].transpose(2, 0, 1)[None], dtype=np.float32) / 255
    with LiteRtRunner(tmp_path / "m.tflite", spec=spec) as runner, TorchRunner(model, spec=spec) as reference:
        assert runner.fixed_side == SIDE and _psnr(runner.infer(x), reference.infer(x)) >= 60


@converts
def test_a_broken_artifact_is_refused_and_no_bundle_is_written(tmp_path, monkeypatch):
    import srkd.backends.litert.convert as convert
    from srkd.export.build import export_bundle

    real = convert.convert_to_tflite

    def broken(model, spec, path, *, side):
        other = tiny_student("edsr")
        with torch.no_grad():
            other.tail[-1].weight.mul_(1.05)  # the last conv: a slightly different network
        return real(other, spec, path, side=side)

    monkeypatch.setattr(convert, "convert_to_tflite", broken)
    save_model(tmp_path / "s.safetensors", tiny_student("edsr"))
    with pytest.raises(ParityError, match=r"model\.tflite: parity failed: litert:fp32: PSNR vs torch fp32"):
        export_bundle(tmp_path / "s.safetensors", tmp_path / "bundle", litert=True, **FAST)
    assert not (tmp_path / "bundle").exists()


@converts
def test_an_int8_file_that_fails_parity_is_skipped_with_its_figures(tmp_path, monkeypatch):
    import srkd.backends.litert.convert as convert
    from srkd.export.build import export_bundle

    real = convert._recipe

    def two_bits(precision):
        recipe = real(precision)
        recipe[0]["op_config"]["weight_tensor_config"]["num_bits"] = 2 if precision == "int8" else 16
        return recipe

    monkeypatch.setattr(convert, "_recipe", two_bits)
    save_model(tmp_path / "s.safetensors", tiny_student("edsr"))
    bundle = export_bundle(tmp_path / "s.safetensors", tmp_path / "bundle", litert=True, int8=True, **FAST)
    keys = [a.key for a in bundle.artifacts]
    assert "litert:fp32" in keys and "litert:int8" not in keys and "onnxruntime:int8" in keys
    [skipped] = bundle.manifest.export.skipped
    assert skipped.artifact == "litert:int8 (model.int8.tflite)" and "parity failed: litert:int8: PSNR" in skipped.why
    assert not (bundle.path / "model.int8.tflite").exists()


@converts
def test_a_failed_conversion_is_one_error_naming_the_file(tmp_path):
    from srkd.backends.litert.convert import convert_to_tflite

    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.svd(x)[0]  # no TFLite lowering

    model = tiny_student("edsr")
    with pytest.raises(ConversionError, match=r"m\.tflite: litert-torch could not convert edsr"):
        convert_to_tflite(Odd(), describe(model), tmp_path / "m.tflite", side=SIDE)
    assert not (tmp_path / "m.tflite").exists()
