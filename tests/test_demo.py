"""The whole chain end to end at tiny sizes, through the real CLI."""
import json

import pytest
import torch

from conftest import run_srkd
from srkd.models import build_model
from srkd.models.checkpoint import save_model


@pytest.mark.slow
def test_demo_chain_end_to_end(tmp_path):
    torch.manual_seed(0)
    save_model(tmp_path / "teacher.safetensors", build_model("edsr", {"scale": 4, "n_feats": 16, "n_blocks": 2}))
    out = run_srkd("demo", "--teacher", tmp_path / "teacher.safetensors", "--steps", 3, "--out", tmp_path / "demo",
                   "--quiet", "--threads", 2)
    assert out.returncode == 0, out.stderr
    demo = tmp_path / "demo"
    assert "where everything went" in out.stdout and "student" in out.stdout
    manifest = json.loads((demo / "bundle" / "manifest.json").read_text())
    assert all(a["parity"]["passed"] for a in manifest["artifacts"])
    import importlib.util

    if importlib.util.find_spec("openvino"):  # CI installs it: the demo then shows every CPU runtime
        assert {"openvino:fp32", "openvino:int8"} <= {f"{a['backend']}:{a['precision']}" for a in manifest["artifacts"]}
    assert sorted(p.name for p in (demo / "images_x4").glob("*.png")) == ["camera.png", "chelsea.png", "coffee.png"]
    report = json.loads((demo / "images_x4" / "srkd-upscale-report.json").read_text())
    assert report["counts"]["ok"] == 3
    # a second run reuses its own folder; a foreign non-empty folder is refused
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "keep.txt").write_text("mine")
    out = run_srkd("demo", "--teacher", tmp_path / "teacher.safetensors", "--steps", 1, "--out", tmp_path / "foreign")
    assert out.returncode == 1 and "not a demo folder" in out.stderr
    assert (tmp_path / "foreign" / "keep.txt").read_text() == "mine"


def test_demo_refuses_a_bad_student_before_writing(tmp_path):
    out = run_srkd("demo", "--student", "compact:num_feet=64", "--steps", 1, "--out", tmp_path / "demo")
    assert out.returncode == 1 and "bad hyperparameter 'num_feet=64'" in out.stderr, out.stderr
    assert not (tmp_path / "demo").exists()
