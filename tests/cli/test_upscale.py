"""``srkd upscale`` through the real CLI: outputs, naming, skip/overwrite, exit codes 0/1/2/3."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_srkd

from srkd.data.io import read_image, write_image
from srkd.errors import CheckpointError
from srkd.models import build_model
from srkd.models.checkpoint import save_model
from srkd.zoo import DEFAULT_MODEL, zoo_path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny-x2.safetensors"
    save_model(path, build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}))
    return path


@pytest.fixture
def pics(tmp_path, photo) -> Path:
    folder = tmp_path / "pics"
    write_image(folder / "a.png", photo[:48, :64])
    write_image(folder / "b.jpg", photo[200:240, 100:150])
    write_image(folder / "sub" / "c.png", photo[300:332, 300:340, 0])
    return folder


def tree(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden temp files included, so leftovers would show)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_folder_default_output_and_report(pics, model):
    out = run_srkd("upscale", pics, "-m", model, "--tile", 32, "--tile-overlap", 8)
    assert out.returncode == 0, out.stderr
    dest = pics.parent / "pics_x2"
    assert tree(dest) == ["a_x2.png", "b_x2.jpg", "srkd-upscale-report.json"]  # not recursive: sub/ left alone
    assert read_image(dest / "a_x2.png").shape == (96, 128, 3)
    assert "2 upscaled" in out.stdout and "0 failed" in out.stdout
    report = json.loads((dest / "srkd-upscale-report.json").read_text())
    assert report["counts"] == {"ok": 2, "skipped": 0, "failed": 0} and report["scale"] == 2


def test_recursive_mirror_corrupt_file_exits_3(pics, model, tmp_path):
    (pics / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = run_srkd("upscale", pics, "-m", model, "-r", "-o", tmp_path / "big")
    assert out.returncode == 3, out.stderr
    assert tree(tmp_path / "big") == ["a_x2.png", "b_x2.jpg", "srkd-upscale-report.json", "sub/c_x2.png"]
    assert read_image(tmp_path / "big" / "sub" / "c_x2.png", rgb=False).shape == (64, 80)  # grey stays grey
    assert "broken.png" in out.stderr and "corrupt PNG file" in out.stderr and "Traceback" not in out.stderr
    assert "3 upscaled" in out.stdout and "1 failed" in out.stdout


def test_single_file_naming_skip_and_overwrite(pics, model):
    src = pics / "a.png"
    first = run_srkd("upscale", src, "-m", model, "--tile", 0)
    assert first.returncode == 0, first.stderr
    dst = pics / "a_x2.png"
    assert read_image(dst).shape == (96, 128, 3)
    os.utime(dst, (1_000_000, 1_000_000))
    write_image(dst, np.zeros((2, 2, 3), np.uint8))
    os.utime(dst, (1_000_000, 1_000_000))
    skipped = run_srkd("upscale", src, "-m", model)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
    assert dst.stat().st_mtime == 1_000_000 and read_image(dst).shape == (2, 2, 3)
    forced = run_srkd("upscale", src, "-m", model, "--overwrite", "--ext", "png", "-o", pics / "x.png")
    assert forced.returncode == 0, forced.stderr
    assert read_image(pics / "x.png").shape == (96, 128, 3)
    again = run_srkd("upscale", src, "-m", model, "--overwrite")
    assert again.returncode == 0 and read_image(dst).shape == (96, 128, 3) and dst.stat().st_mtime > 1_000_000
    assert tree(pics) == ["a.png", "a_x2.png", "b.jpg", "sub/c.png", "x.png"]  # no temp files, no report


def test_missing_model_is_one_line_exit_1(pics):
    out = run_srkd("upscale", pics, "-m", "no/such.safetensors")
    assert out.returncode == 1, out.stderr
    lines = [l for l in out.stderr.strip().splitlines() if l.startswith("srkd: error:")]
    assert len(lines) == 1 and "no/such.safetensors" in lines[0] and "Traceback" not in out.stderr
    assert not (pics.parent / "pics_x2").exists()


def test_onnxruntime_on_a_student_file_is_exit_1(pics, model):
    out = run_srkd("upscale", pics, "-m", model, "--backend", "onnxruntime")
    assert out.returncode == 1 and "needs a bundle" in out.stderr


def test_missing_input_is_exit_1(pics, model):
    out = run_srkd("upscale", pics / "no-such-folder", "-m", model)
    assert out.returncode == 1 and "no such file or folder" in out.stderr


def test_dry_run_glob_ext_outscale_and_shards(pics, model, tmp_path):
    pattern = str(pics / "**" / "*.png")
    dry = run_srkd("upscale", pattern, "-m", model, "-o", tmp_path / "o", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "upscale" in dry.stdout and "sub/c_x2.png" in dry.stdout and "2 to upscale" in dry.stdout
    assert not (tmp_path / "o").exists()
    out = run_srkd("upscale", pics, "-m", model, "-r", "-o", tmp_path / "o", "--ext", "webp", "--quality", "100",
                   "--outscale", "1.5", "--shard", "0/2")
    assert out.returncode == 0, out.stderr
    assert tree(tmp_path / "o") == ["a_x1.5.webp", "srkd-upscale-report.shard-0-of-2.json", "sub/c_x1.5.webp"]
    assert read_image(tmp_path / "o" / "a_x1.5.webp").shape == (72, 96, 3)
    rest = run_srkd("upscale", pics, "-m", model, "-r", "-o", tmp_path / "o", "--ext", "webp", "--outscale", "1.5",
                    "--shard", "1/2")
    assert rest.returncode == 0 and "1 upscaled" in rest.stdout
    bad = run_srkd("upscale", pics, "-m", model, "--name", "../{stem}.png")
    assert bad.returncode == 1 and "plain file name" in bad.stderr


@pytest.mark.parametrize("args", [(), ("{pics}", "--tile", "big"), ("{pics}", "--shard", "2/2", "--png-level", "12")])
def test_usage_errors_exit_2(pics, args):
    out = run_srkd("upscale", *[a.format(pics=pics) for a in args])
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Usage" in out.stderr


def test_default_shipped_model(pics):
    try:
        zoo_path(DEFAULT_MODEL)
    except CheckpointError:
        pytest.skip(f"shipped model {DEFAULT_MODEL!r} is not in this checkout (srkd/zoo/ has no weights file yet)")
    out = run_srkd("upscale", pics / "a.png", "--tile", 32, "--tile-overlap", 8)
    assert out.returncode == 0, out.stderr
    scale = json.loads(run_srkd("inspect", DEFAULT_MODEL, "--json").stdout)["scale"]
    assert read_image(pics / f"a_x{scale}.png").shape == (48 * scale, 64 * scale, 3)
