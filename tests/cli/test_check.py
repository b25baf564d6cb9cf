"""``srkd check`` through the real CLI: exit 0 when every artifact passes, 1 with one line when not."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import run_srkd

from srkd.bundle.manifest import Manifest, write_manifest
from srkd.export.build import export_bundle
from srkd.fsutil import sha256_file
from srkd.models import build_model
from srkd.models.checkpoint import save_model

FAST = ["--images", "2", "--crop", "96", "--sizes", "16", "--runs", "2"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check")
    torch.manual_seed(0)
    save_model(tmp / "tiny.safetensors", build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 2}))
    return export_bundle(tmp / "tiny.safetensors", tmp / "bundle", images=1, crop=64, latency_sizes=(16,),
                         latency_runs=2).path


def _broken_copy(bundle, dest, *, fix_hash):
    import onnx
    from onnx import numpy_helper

    shutil.copytree(bundle, dest)
    proto = onnx.load(str(dest / "model.onnx"))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))  # a conv weight
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.1, init.name))
    onnx.save(proto, str(dest / "model.onnx"))
    if fix_hash:
        manifest = json.loads((dest / "manifest.json").read_text())
        manifest["artifacts"][1]["sha256"] = sha256_file(dest / "model.onnx")
        write_manifest(dest, Manifest.parse(manifest, path=dest))
    return dest


def _error_line(out):
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = [l for l in out.stderr.strip().splitlines() if l.startswith("srkd: error:")]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_check_passes_on_real_images(bundle, tmp_path):
    out = run_srkd("check", bundle, *FAST, "--json", tmp_path / "check.json")
    assert out.returncode == 0, out.stderr
    assert "all 2 artifacts pass" in out.stdout and "onnxruntime:fp32" in out.stdout and "CPU:" in out.stdout
    data = json.loads((tmp_path / "check.json").read_text())
    assert [a["parity"]["passed"] for a in data["artifacts"]] == [True, True]


def test_check_on_set5(bundle, set5):
    out = run_srkd("check", bundle, "--data", set5, "--crop", "0", "--sizes", "")
    assert out.returncode == 0, out.stderr
    assert "parity on 5 real images" in out.stdout


def test_check_fails_on_a_bad_artifact(bundle, tmp_path):
    broken = _broken_copy(bundle, tmp_path / "broken", fix_hash=True)
    line = _error_line(run_srkd("check", broken, *FAST))
    assert "1 of 2 artifacts fail parity" in line and "model.onnx" in line and "dB" in line


def test_check_detects_a_changed_file(bundle, tmp_path):
    changed = _broken_copy(bundle, tmp_path / "changed", fix_hash=False)
    line = _error_line(run_srkd("check", changed, *FAST))
    assert "model.onnx: sha256" in line and "changed after export" in line


def test_check_not_a_bundle(tmp_path):
    line = _error_line(run_srkd("check", tmp_path))
    assert "manifest.json: missing" in line


def test_check_writes_heatmaps_and_records_figures(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    out = run_srkd("check", copy, *FAST)
    assert out.returncode == 0, out.stderr
    assert "error heatmaps" in out.stdout and "figures recorded in" in out.stdout
    png = copy / "check" / "model.onnx-onnxruntime-fp32.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((copy / "manifest.json").read_text())
    onnx_check = manifest["artifacts"][1]["check"]
    assert onnx_check["parity"]["passed"] and onnx_check["latency"]["sizes"][0]["size"] == 16
    assert onnx_check["heatmap"] == "check/model.onnx-onnxruntime-fp32.png" and onnx_check["images"] == ["astronaut", "chelsea"]
    assert manifest["artifacts"][0]["check"]["heatmap"] is None  # the reference itself
    out = run_srkd("check", copy, *FAST)  # a recorded manifest is still a valid bundle
    assert out.returncode == 0, out.stderr


def test_check_no_record(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    before = (copy / "manifest.json").read_text()
    out = run_srkd("check", copy, *FAST, "--no-record", "--heatmaps", tmp_path / "maps")
    assert out.returncode == 0, out.stderr
    assert (copy / "manifest.json").read_text() == before and list((tmp_path / "maps").glob("*.png"))
