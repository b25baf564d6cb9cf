"""``srkd eval`` on the folder layouts people have (HR only, benchmark HR + LR_bicubic, paired folders),
the x8 self-ensemble, per-image rows, JSON and Markdown output."""
import json

import numpy as np
import pytest
import torch
from conftest import run_srkd

from srkd.data.benchset import iter_pairs
from srkd.data.io import write_image
from srkd.errors import DataError
from srkd.evaluate import self_ensemble
from srkd.models import build_model
from srkd.models.checkpoint import save_model


@pytest.fixture
def hr_dir(tmp_path, photo):
    folder = tmp_path / "HRonly"
    write_image(folder / "face.png", photo[40:136, 180:260])  # 96 x 80
    write_image(folder / "grey.png", np.ascontiguousarray(photo[300:362, 100:170, 1]))  # grey, 62 x 70
    return folder


def _paired(tmp_path, hr_dir, *, suffix: str):
    lr = tmp_path / f"LR{suffix or 'plain'}"
    for p in iter_pairs(hr_dir, scale=4):
        write_image(lr / f"{p.name}{suffix}.png", p.lr)
    return lr


def _eval(*args) -> dict:
    out = run_srkd("eval", *args, "--json", "-")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_hr_only_and_paired_folders_agree(tmp_path, hr_dir):
    plain = _eval("bicubic", "--data", hr_dir, "--scale", 4)["results"][0]
    assert [r["lr_source"] for r in plain["images"]] == ["imresize", "imresize"]
    assert [r["name"] for r in plain["images"]] == ["face", "grey"]
    for suffix in ("x4", ""):  # <name>x4.png and <name>.png
        paired = _eval("bicubic", "--data", hr_dir, "--lr", _paired(tmp_path, hr_dir, suffix=suffix), "--scale", 4)
        res = paired["results"][0]
        assert [r["lr_source"] for r in res["images"]] == ["file", "file"] and res["lr_dir"]
        assert res["psnr"] == pytest.approx(plain["psnr"], abs=1e-9)


def test_benchmark_layout_is_found(tmp_path, hr_dir):
    root = tmp_path / "Bench"
    (root / "HR").mkdir(parents=True)
    for p in hr_dir.iterdir():
        (root / "HR" / p.name).write_bytes(p.read_bytes())
    lr = root / "LR_bicubic" / "X4"
    for p in iter_pairs(root, scale=4):
        write_image(lr / f"{p.name}x4.png", p.lr)
    assert [p.lr_source for p in iter_pairs(root, scale=4)] == ["file", "file"]
    assert [p.lr_source for p in iter_pairs(root, scale=2)] == ["imresize", "imresize"]


def test_paired_folder_errors_name_the_file(tmp_path, hr_dir):
    lr = _paired(tmp_path, hr_dir, suffix="x4")
    (lr / "greyx4.png").unlink()
    with pytest.raises(DataError, match="no LR image for grey.png"):
        list(iter_pairs(hr_dir, scale=4, lr_dir=lr))
    write_image(lr / "greyx4.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(DataError, match="greyx4.png: size 5x5 does not match HR grey.png"):
        list(iter_pairs(hr_dir, scale=4, lr_dir=lr))
    out = run_srkd("eval", "bicubic", "--data", hr_dir, "--data", hr_dir, "--lr", lr)
    assert out.returncode == 2 and "exactly one --data" in out.stderr


def test_self_ensemble_averages_the_eight_transforms():
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1}).eval()
    x = torch.rand(1, 3, 7, 10)
    with torch.no_grad():
        y = self_ensemble(model, x)
        manual = []
        for t in (False, True):
            xt = x.transpose(2, 3) if t else x
            for dims in ([], [3], [2], [2, 3]):
                out = model(xt.flip(dims) if dims else xt)
                out = out.flip(dims) if dims else out
                manual.append(out.transpose(2, 3) if t else out)
    assert y.shape == (1, 3, 14, 20)
    torch.testing.assert_close(y, torch.stack(manual).mean(0))
    assert not torch.allclose(y, model(x))


def test_self_ensemble_flag_json_and_markdown(tmp_path, hr_dir):
    torch.manual_seed(0)
    save_model(tmp_path / "tiny.safetensors", build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 1}))
    md = tmp_path / "table.md"
    out = run_srkd("eval", tmp_path / "tiny.safetensors", "--data", hr_dir, "--self-ensemble", "--markdown", md,
                   "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "x8 self-ensemble" in out.stdout and "face" in out.stdout and "mean" in out.stdout
    res = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert res["self_ensemble"] and len(res["images"]) == 2 and 0 < res["ssim"] < 1
    text = md.read_text()
    assert "| data | scale | images | PSNR (dB) | SSIM |" in text and "(x8 self-ensemble) | x4 | 2 |" in text
    assert f"| face | {res['images'][0]['psnr']:.2f} |" in text and "| grey |" in text


def test_input_range_flag_is_validated(hr_dir):
    out = run_srkd("eval", "bicubic", "--data", hr_dir, "--input-range", "42")
    assert out.returncode == 2 and "expected 1" in out.stderr
    out = run_srkd("eval", "bicubic", "--data", hr_dir, "--input-range", "255")
    assert out.returncode == 1 and "no input-range setting" in out.stderr
