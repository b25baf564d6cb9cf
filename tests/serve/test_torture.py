"""A torture folder of real photos in every kind a real folder holds, through the real ``srkd upscale``.

Every outcome is asserted: good files have the right pixels (against a reference computed here with
torch and Pillow, not with srkd.serve), depth, channels, ICC profile and reset EXIF orientation; bad
files fail with a clear reason; nothing partial is written; a rerun skips what is done.
"""
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import run_srkd
from PIL import Image, ImageCms, ImageOps
from skimage import data

from srkd.models import build_model
from srkd.models.checkpoint import save_model

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GOOD = ["rgba.png", "deep.png", "deep.tif", "grey.png", "palette.png", "cmyk.jpg", "rotated.jpg", "one.png",
        "frames.tif"]
BAD = {"corrupt.png": "corrupt", "truncated.jpg": "truncated", "empty.png": "empty file (0 bytes)",
       "notes.jpg": "not an image", "huge.png": "over --max-pixels 1,000,000"}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).eval()
    path = tmp_path_factory.mktemp("model") / "tiny-x2.safetensors"
    save_model(path, model)
    return path, model


def ref_upscale(model, img: np.ndarray) -> np.ndarray:
    """The expected output: the network on the upright image, grey as the mean, alpha bicubic, same dtype."""
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    x = img.astype(np.float32) / peak
    x = x[:, :, None] if x.ndim == 2 else x
    rgb = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x[:, :, :3]
    with torch.inference_mode():
        y = model(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None])[0].numpy().transpose(1, 2, 0)
    if img.ndim == 2:
        y = y.mean(axis=2)
    elif img.shape[2] == 4:
        a = cv2.resize(x[:, :, 3], (y.shape[1], y.shape[0]), interpolation=cv2.INTER_CUBIC)
        y = np.dstack([y, a])
    return np.rint(np.clip(y, 0, 1) * peak).astype(img.dtype)


def save(path: Path, im: Image.Image, **kw) -> None:
    im.save(path, **kw)


def cv2_write(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    cv2.imwrite(str(path), img)


@pytest.fixture(scope="module")
def torture(tmp_path_factory, photo):
    """The folder, and the upright input each good file should be read as."""
    d = tmp_path_factory.mktemp("torture") / "in"
    d.mkdir()
    face, coffee, camera = photo[60:124, 180:260], data.coffee()[100:164, 200:272], data.camera()[200:264, 200:280]
    expect = {}
    rgba = np.dstack([face, np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (64, 1))])
    save(d / "rgba.png", Image.fromarray(rgba), icc_profile=SRGB)
    low = np.arange(72)[None, :, None] % 200  # detail in the low byte, which an 8-bit path would lose
    deep = np.clip(coffee.astype(np.int32) * 257 - low, 0, 65535).astype(np.uint16)
    cv2_write(d / "deep.png", deep)
    cv2_write(d / "deep.tif", deep[:, ::-1].copy())
    cv2_write(d / "grey.png", camera)
    pal = Image.fromarray(coffee).quantize(48)
    save(d / "palette.png", pal)
    save(d / "cmyk.jpg", Image.fromarray(face).convert("CMYK"), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the viewer turns it 90 degrees clockwise
    save(d / "rotated.jpg", Image.fromarray(coffee), quality=95, exif=exif.tobytes())
    cv2_write(d / "one.png", face[:1, :1])
    frames = [Image.fromarray(face), Image.fromarray(coffee[:64, :80])]
    frames[0].save(d / "frames.tif", save_all=True, append_images=frames[1:])
    expect.update({"rgba.png": rgba, "deep.png": deep, "deep.tif": deep[:, ::-1], "grey.png": camera,
                   "palette.png": np.asarray(pal.convert("RGB")), "one.png": face[:1, :1], "frames.tif": face,
                   "cmyk.jpg": np.asarray(Image.open(d / "cmyk.jpg").convert("RGB")),
                   "rotated.jpg": np.asarray(ImageOps.exif_transpose(Image.open(d / "rotated.jpg")))})
    good = (d / "palette.png").read_bytes()
    (d / "corrupt.png").write_bytes(good[:200] + bytes(255 - b for b in good[200:400]) + good[400:])
    (d / "truncated.jpg").write_bytes((d / "rotated.jpg").read_bytes()[:1500])
    (d / "empty.png").write_bytes(b"")
    (d / "notes.jpg").write_text("meeting notes, saved with the wrong extension")
    big = cv2.resize(photo, (1200, 1200), interpolation=cv2.INTER_CUBIC)  # 1.44 MP, over the 1 MP limit below
    cv2_write(d / "huge.png", big)
    (d / "readme.txt").write_text("not listed: not an image extension")
    return d, expect


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def read_any(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return img


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_torture_folder(torture, net, tmp_path):
    src, expect = torture
    model_path, model = net
    out = tmp_path / "out"
    first = run_srkd("upscale", src, "-m", model_path, "-o", out, "--max-pixels", 1_000_000, "--no-progress")
    assert first.returncode == 3, first.stderr
    assert "Traceback" not in first.stderr
    names = {n: f"{Path(n).stem}_x2{Path(n).suffix}" for n in GOOD}
    assert listing(out) == sorted([*names.values(), "srkd-upscale-report.json"])  # nothing partial, no temp files
    report = json.loads((out / "srkd-upscale-report.json").read_text())
    by_name = {Path(f["src"]).name: f for f in report["files"]}
    assert report["counts"] == {"ok": len(GOOD), "skipped": 0, "failed": len(BAD)} and report["exit_code"] == 3
    for name, reason in BAD.items():
        assert by_name[name]["outcome"] == "failed" and reason in by_name[name]["message"], by_name[name]
        assert name in by_name[name]["message"]  # the reason names the file
        assert f"failed: {src / name}" in first.stderr or name in first.stderr
    for name in GOOD:
        got, want = read_any(out / names[name]), ref_upscale(model, expect[name])
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if name.endswith(".jpg"):  # JPEG in, JPEG out: compare with the reference through the same encoder
            buf = io.BytesIO()
            Image.fromarray(want).save(buf, "JPEG", quality=95)
            assert psnr(got, np.asarray(Image.open(buf))) > 45, name
        else:
            assert np.abs(got.astype(np.int64) - want).max() <= 1, name
    assert Image.open(out / "rgba_x2.png").info["icc_profile"] == SRGB
    rotated = Image.open(out / "rotated_x2.jpg")
    assert rotated.size == (128, 144) and rotated.getexif()[0x0112] == 1  # upright, orientation reset
    assert "first of 2 frames only" in by_name["frames.tif"]["notes"]
    assert any("palette converted" in n for n in by_name["palette.png"]["notes"])
    assert "2 frames" in first.stderr  # the multi-frame warning

    before = {n: (out / n).stat().st_mtime_ns for n in names.values()}
    second = run_srkd("upscale", src, "-m", model_path, "-o", out, "--max-pixels", 1_000_000, "--no-progress")
    assert second.returncode == 3
    assert f"0 upscaled, {len(GOOD)} skipped (output exists), {len(BAD)} failed" in second.stdout
    assert {n: (out / n).stat().st_mtime_ns for n in names.values()} == before
