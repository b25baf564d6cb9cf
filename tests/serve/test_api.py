"""``srkd.load(model).upscale(image)``: student files, bundles, image kinds, the shipped model."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import srkd
from srkd.errors import CheckpointError, ConfigError
from srkd.models import build_model
from srkd.models.checkpoint import save_model
from srkd.zoo import DEFAULT_MODEL, zoo_path


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("student") / "tiny.safetensors"
    save_model(path, build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}))
    return path


@pytest.fixture(scope="module")
def bundle(student, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from srkd.export.build import export_bundle

    out = tmp_path_factory.mktemp("bundle") / "tiny"
    export_bundle(student, out, images=1, crop=64, latency_sizes=(32,), latency_runs=1)
    return out


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[180:244, 200:280])  # 64x80 of the astronaut


def reference(student, img: np.ndarray) -> np.ndarray:
    from srkd.models.checkpoint import load_model

    model, _ = load_model(student)
    x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.inference_mode():
        y = model(x)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return y


def test_uint8_rgb_matches_the_model(student, crop):
    with srkd.load(student, device="cpu") as up:
        assert up.scale == 2 and up.name == "torch:fp32"
        out = up.upscale(crop)
    assert out.shape == (128, 160, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - reference(student, crop)).max() <= 1


def test_grey_uint16_rgba_and_float(student, crop):
    up = srkd.load(str(student))
    grey = crop[:, :, 1]
    g = up.upscale(grey)
    assert g.shape == (128, 160) and g.dtype == np.uint8
    assert up.upscale(grey[:, :, None]).shape == (128, 160, 1)
    deep = up.upscale(crop.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16 and deep.shape == (128, 160, 3)
    assert np.abs(deep.astype(int) // 257 - up.upscale(crop).astype(int)).max() <= 1
    rgba = np.dstack([crop, np.full(crop.shape[:2], 200, np.uint8)])
    out = up.upscale(rgba)
    assert out.shape == (128, 160, 4) and (out[:, :, 3] == 200).all()
    f = up.upscale(crop.astype(np.float32) / 255)
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1
    with pytest.raises(ConfigError):
        up.upscale(np.zeros((4, 4, 2), np.uint8))
    up.close()


def test_tiled_api_close_to_whole(student, photo):
    img = photo[:160, :192]
    whole = srkd.load(student).upscale(img).astype(int)
    tiled = srkd.load(student, tile=64, tile_overlap=16).upscale(img).astype(int)
    assert np.abs(whole - tiled).max() <= 1


def test_onnxruntime_needs_a_bundle(student):
    with pytest.raises(ConfigError, match="needs a bundle"):
        srkd.load(student, backend="onnxruntime")
    with pytest.raises(CheckpointError, match="neither a file nor a shipped model"):
        srkd.load("no/such/model.safetensors")


def test_bundle_on_both_backends(bundle, student, crop):
    auto = srkd.load(bundle)  # auto takes whichever the manifest recorded as faster (see test_loader.py)
    assert auto.name in ("onnxruntime:fp32", "torch:fp32") and auto.scale == 2
    ort = srkd.load(bundle, backend="onnxruntime")
    assert ort.name == "onnxruntime:fp32"
    via_torch = srkd.load(bundle, backend="torch")
    assert via_torch.name == "torch:fp32"
    ref = reference(student, crop).astype(int)
    assert np.abs(ort.upscale(crop).astype(int) - ref).max() <= 1
    assert np.abs(via_torch.upscale(crop).astype(int) - ref).max() <= 1


def test_folder_without_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="not a bundle"):
        srkd.load(tmp_path)


def test_shipped_default_model(crop):
    try:
        zoo_path(DEFAULT_MODEL)
    except CheckpointError:
        pytest.skip(f"shipped model {DEFAULT_MODEL!r} is not in this checkout (srkd/zoo/ has no weights file yet)")
    up = srkd.load(tile=48, tile_overlap=8)
    assert up.upscale(crop[:32, :32]).shape == (32 * up.scale, 32 * up.scale, 3)


def test_import_srkd_stays_light():
    code = "import sys, srkd; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
