"""The papers' protocol: bicubic numbers must reproduce the reference table of ../shared/data/README.md
(computed with BasicSR's calculate_psnr / calculate_ssim, test_y_channel=True)."""
import json

import pytest

from conftest import run_srkd

REFERENCE = {  # (set, scale): (psnr, ssim) from BasicSR
    ("Set5", 4): (28.43, 0.8111),
    ("Set5", 2): (33.67, 0.9303),
    ("Set14", 4): (26.09, 0.7048),
    ("Set14", 3): (27.63, 0.7759),
}


@pytest.mark.parametrize("name,scale", list(REFERENCE))
def test_bicubic_reproduces_basicsr_table(shared, name, scale):
    out = run_srkd("eval", "bicubic", "--data", shared / "data" / "bench" / name, "--scale", scale, "--json", "-")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)["results"][0]
    ref_psnr, ref_ssim = REFERENCE[(name, scale)]
    assert abs(res["psnr"] - ref_psnr) <= 0.01
    assert abs(res["ssim"] - ref_ssim) <= 0.001
    assert len(res["images"]) == (5 if name == "Set5" else 14)


def test_eval_uses_lr_files_when_present_and_imresize_otherwise(shared):
    from srkd.data.benchset import iter_pairs

    set5 = list(iter_pairs(shared / "data" / "bench" / "Set5", scale=4))
    set14 = list(iter_pairs(shared / "data" / "bench" / "Set14", scale=4, limit=2))
    assert {p.lr_source for p in set5} == {"file"} and {p.lr_source for p in set14} == {"imresize"}


def test_eval_table_and_json_file(set5, tmp_path):
    out = run_srkd("eval", "bicubic", "--data", set5, "--scale", 3, "--json", tmp_path / "r.json", "--no-ssim")
    assert out.returncode == 0, out.stderr
    assert "butterfly" in out.stdout and "mean" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"][0]["scale"] == 3 and data["spec"]["arch"] == "bicubic"
