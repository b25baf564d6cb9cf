"""ncnn artifacts: pnnx conversion of the students, the blob names Real-ESRGAN-ncnn-vulkan and Upscayl read,
parity, any input size, upscale/check through the CLI, the refusal of a broken artifact, the Vulkan path
where a device exists, and the missing-extra errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_srkd
from tiny_students import STUDENTS, tiny_student

from srkd.backends.ncnn.param import read_param
from srkd.errors import BackendUnavailableError, ConversionError, ParityError
from srkd.models import build_model, describe
from srkd.models.checkpoint import save_model

pytest.importorskip("ncnn", reason="ncnn is not installed (pip install 'srkd[ncnn]'; CI installs it)")
pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'srkd[ncnn]'; CI installs it)")

from srkd.backends.ncnn.convert import convert_to_ncnn  # noqa: E402
from srkd.backends.ncnn.runner import NcnnRunner, vulkan_devices  # noqa: E402
from srkd.backends.pytorch.runner import TorchRunner  # noqa: E402
from srkd.export.build import export_bundle  # noqa: E402

FAST = {"latency_sizes": (16,), "latency_runs": 2, "images": 2, "crop": 96}
# SwinIR is expected to fail (see test_swinir_is_refused)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("ncnn")
    save_model(root / "student.safetensors", tiny_student("edsr"), provenance={"method": "test"})
    return export_bundle(root / "student.safetensors", root / "bundle", ncnn=True, **FAST)


def _entry(bundle, precision):
    return next(a for a in bundle.artifacts if a.backend == "ncnn" and a.precision == precision)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def test_param_and_bin_pairs_with_the_blob_names_the_ncnn_upscalers_read(bundle):
    for precision, stem in (("fp32", "model.ncnn"), ("fp16", "model.fp16.ncnn")):
        entry = _entry(bundle, precision)
        [companion] = entry.companions
        assert entry.file == f"{stem}.param" and companion.file == f"{stem}.bin" and len(companion.sha256) == 64
        text = (bundle.path / entry.file).read_text()
        assert text.splitlines()[2].split()[:2] == ["Input", "data"] and " in0" not in text and " out0" not in text
        graph = read_param(bundle.path / entry.file)
        assert graph.inputs == ["data"] and graph.outputs == ["output"] and not graph.foreign_types
        assert "PixelShuffle" in entry.conversion["layer_types"] and entry.conversion["dynamic"]
        assert entry.conversion["weight_storage"] == precision and entry.parity.passed
        assert entry.io["input"]["name"] == "data" and entry.io["output"]["name"] == "output"
    fp32, fp16 = _entry(bundle, "fp32"), _entry(bundle, "fp16")
    assert fp32.parity.psnr_vs_ref >= 60 and fp16.parity.psnr_vs_ref >= 45
    assert fp16.companions[0].bytes < 0.6 * fp32.companions[0].bytes  # fp16 storage halves the weights
    assert fp32.runs_in == "fp32" and fp16.runs_in == "fp16 storage, fp32 arithmetic"
    assert bundle.manifest.export.flags[-1] == "--ncnn"


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_every_native_student_converts_and_takes_any_size(arch, tmp_path, photo):
    model = tiny_student(arch)
    spec = describe(model)
    info = convert_to_ncnn(model, spec, tmp_path / "m.ncnn.param", fp16=False)
    assert (tmp_path / "m.ncnn.bin").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["m.ncnn.bin", "m.ncnn.param"]
    with NcnnRunner(tmp_path / "m.ncnn.param", spec=spec) as runner, TorchRunner(model, spec=spec) as reference:
        for h, w in ((37, 61), (64, 48)):  # non-square, odd, and neither the traced shapes
            x = np.ascontiguousarray(photo[100: 100 + h, 200: 200 + w].transpose(2, 0, 1)[None], dtype=np.float32) / 255
            out, ref = runner.infer(x), reference.infer(x)
            assert out.shape == ref.shape == (1, 3, h * spec.scale, w * spec.scale)
            assert _psnr(out, ref) >= 60, (arch, info["layer_types"])


def test_swinir_is_refused_with_the_operators_pnnx_left(tmp_path):
    model = build_model("swinir", {"scale": 2, "embed_dim": 12, "depths": (1,), "num_heads": (2,), "window_size": 8,
                                   "num_feat": 8, "upsampler": "pixelshuffledirect"}).eval()
    with pytest.raises(ConversionError, match=r"m\.ncnn\.param: pnnx (failed|left operators ncnn cannot run)"):
        convert_to_ncnn(model, describe(model), tmp_path / "m.ncnn.param", fp16=False)
    assert not (tmp_path / "m.ncnn.param").exists()


def test_upscale_and_check_through_the_cli(bundle, tmp_path, photo):
    from srkd.data.io import read_image, write_image

    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "p.png", photo[200:237, 220:281])  # 37x61: no tiling needed, odd and non-square
    done = run_srkd("upscale", tmp_path / "in", "-m", bundle.path, "--backend", "ncnn", "--precision", "fp32",
                    "-o", tmp_path / "out", "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    assert report["runner"] == "ncnn:fp32" and report["counts"]["ok"] == 1
    import srkd

    with srkd.load(bundle.path, backend="torch", precision="fp32", tile=0) as reference:
        expected = reference.upscale(photo[200:237, 220:281])
    got = read_image(tmp_path / "out" / "p_x4.png")
    assert got.shape == expected.shape == (148, 244, 3) and np.abs(got.astype(int) - expected).max() <= 1

    done = run_srkd("check", bundle.path, "--images", "2", "--crop", "96", "--sizes", "16", "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert "ncnn:fp32" in done.stdout and "ncnn:fp16" in done.stdout and not done.stderr.strip()


def test_a_broken_artifact_is_refused_and_no_bundle_is_written(tmp_path, monkeypatch):
    import srkd.backends.ncnn.convert as convert

    real = convert.convert_to_ncnn

    def broken(model, spec, param, *, fp16):
        info = real(model, spec, param, fp16=fp16)
        weights = np.fromfile(convert.ncnn_bin(param), dtype=np.float32)  # fp32 tags are 0 and stay 0
        (weights * np.float32(1.05)).tofile(convert.ncnn_bin(param))
        return info

    monkeypatch.setattr(convert, "convert_to_ncnn", broken)
    save_model(tmp_path / "s.safetensors", tiny_student("edsr"))
    with pytest.raises(ParityError, match=r"model\.ncnn\.param: parity failed: ncnn:fp32: PSNR vs torch fp32"):
        export_bundle(tmp_path / "s.safetensors", tmp_path / "bundle", ncnn=True, **FAST)
    assert not (tmp_path / "bundle").exists()


def test_the_gpu_probe_prints_nothing_on_the_terminal():
    code = "from srkd.backends.ncnn.runner import vulkan_devices; print(len(vulkan_devices()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().isdigit() and done.stderr == ""


@pytest.mark.skipif(not vulkan_devices(), reason="no Vulkan device (Debian's mesa-vulkan-drivers gives lavapipe, a CPU one)")
def test_vulkan_runs_odd_sizes_like_the_cpu(bundle, photo):
    x = np.ascontiguousarray(photo[10:47, 20:81].transpose(2, 0, 1)[None], dtype=np.float32) / 255  # 37*61: unaligned
    entry = _entry(bundle, "fp32")
    with NcnnRunner(bundle.path / entry.file, spec=bundle.spec, vulkan=0) as gpu, \
            NcnnRunner(bundle.path / entry.file, spec=bundle.spec) as cpu:
        assert gpu.runs_in().startswith("fp32 on Vulkan 0:") and gpu.toolchain()["device"].startswith("Vulkan")
        assert _psnr(gpu.infer(x), cpu.infer(x)) >= 60


def test_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    from srkd.backends.ncnn.convert import pnnx_binary
    from srkd.backends.ncnn.runner import require_ncnn

    monkeypatch.setitem(sys.modules, "ncnn", None)
    monkeypatch.setitem(sys.modules, "pnnx", None)
    for probe in (require_ncnn, pnnx_binary):
        with pytest.raises(BackendUnavailableError, match=r"pip install 'srkd\[ncnn\]'"):
            probe()
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "pnnx.py").write_text("raise ImportError('hidden by the test')\n")
    save_model(tmp_path / "s.safetensors", tiny_student("edsr"))
    done = subprocess.run([sys.executable, "-m", "srkd", "export", str(tmp_path / "s.safetensors"), "--out",
                           str(tmp_path / "b"), "--ncnn"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "hide"),
                                                                                         os.environ.get("PYTHONPATH")]))})
    assert done.returncode == 1 and not (tmp_path / "b").exists()
    assert done.stderr.count("\n") == 1 and "pip install 'srkd[ncnn]'" in done.stderr
