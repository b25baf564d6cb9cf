"""``srkd export`` through the real CLI: a summary with parity figures, refusals with exit code 1."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import run_srkd

from srkd.models import build_model
from srkd.models.checkpoint import save_model

FAST = ["--images", "2", "--crop", "96", "--sizes", "16", "--runs", "2"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("student") / "tiny.safetensors"
    save_model(path, build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 2}))
    return path


def _one_error_line(out, *needles):
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = [l for l in out.stderr.strip().splitlines() if l.startswith("srkd: error:")]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_export_prints_parity_and_writes_bundle(student, tmp_path):
    out = run_srkd("export", student, "--out", tmp_path / "bundle", *FAST)
    assert out.returncode == 0, out.stderr
    assert "parity on 2 real images" in out.stdout and "identical" in out.stdout
    assert "onnxruntime:fp32" in out.stdout and " dB " in out.stdout and "p50 ms" in out.stdout
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert all(a["parity"]["passed"] for a in manifest["artifacts"])
    # a second export onto it is refused without --overwrite
    _one_error_line(run_srkd("export", student, "--out", tmp_path / "bundle", *FAST), "already exists", "--overwrite")


def test_export_missing_student(tmp_path):
    _one_error_line(run_srkd("export", tmp_path / "nope.safetensors", "--out", tmp_path / "b"), "nope.safetensors")
    assert not (tmp_path / "b").exists()


def test_export_refused_on_parity_failure(student, tmp_path, monkeypatch):
    import onnx
    from onnx import numpy_helper

    import srkd.backends.onnxruntime.make as ort_make
    from srkd.cli import main

    real_export = ort_make.export_onnx

    def broken_export(model, path, **kw):
        info = real_export(model, path, **kw)
        proto = onnx.load(str(path))
        init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))  # a conv weight
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.1, init.name))
        onnx.save(proto, str(path))
        return info

    monkeypatch.setattr(ort_make, "export_onnx", broken_export)
    result = CliRunner().invoke(main, ["export", str(student), "--out", str(tmp_path / "bundle"), *FAST])
    assert result.exit_code == 1
    assert "srkd: error:" in result.output and "parity failed" in result.output and "dB" in result.output
    assert list(tmp_path.iterdir()) == []


def test_export_bad_sizes_is_usage_error(student, tmp_path):
    out = run_srkd("export", student, "--out", tmp_path / "b", "--sizes", "64,big")
    assert out.returncode == 2 and "comma-separated integers" in out.stderr


def test_export_every_cpu_artifact(student, tmp_path):
    out = run_srkd("export", student, "--out", tmp_path / "bundle", *FAST, "--simplify", "--bf16", "--fp16", "--int8")
    assert out.returncode == 0, out.stderr
    assert "simplified with onnxslim" in out.stdout
    assert "model.int8.onnx: QDQ, weights int8 per-channel symmetric, activations uint8 asymmetric" in out.stdout
    assert "recipe 1: minmax, 32 patches of 64 px" in out.stdout and "-> kept" in out.stdout
    for name in ("torch:bf16", "onnxruntime:fp16", "onnxruntime:int8"):
        assert name in out.stdout
    assert "wrote student.safetensors, model.onnx, model.fp16.onnx, model.int8.onnx, manifest.json" in out.stdout


def test_export_bad_trt_precision_is_usage_error(student, tmp_path):
    out = run_srkd("export", student, "--out", tmp_path / "b", "--trt", "fp8")
    assert out.returncode == 2 and "expected fp32, fp16 and/or int8" in out.stderr
