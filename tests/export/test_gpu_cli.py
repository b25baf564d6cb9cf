"""GPU-facing command lines that a CPU can check (issue 16): ``--trt`` as users write it, and
bench/check/gate listing an engine that cannot run here instead of stopping at it."""
from __future__ import annotations

import json
import types

import pytest
from click.testing import CliRunner
from conftest import run_srkd
from export_helpers import make_student

import srkd.backends as backends_mod
import srkd.backends.tensorrt.build as trt_mod
import srkd.export.build as build_mod
from srkd.bundle.manifest import Manifest, write_manifest
from srkd.bundle.reader import load_bundle
from srkd.cli import main
from srkd.errors import SrkdError
from srkd.export.build import export_bundle
from srkd.export.check import check_bundle
from srkd.export.gate import compare, measure_gate
from srkd.fsutil import sha256_file

ENGINE = "model.fp16.sm89-trt10.8.0.engine"


class _Stop(SrkdError):
    pass


@pytest.mark.parametrize(("flags", "precisions"), [
    (["--trt"], ("fp16",)),                                 # bare, at the end (docs/deploy.md)
    (["--trt", "--images", "1"], ("fp16",)),               # bare, before another option
    (["--trt", "fp32,fp16,int8"], ("fp32", "fp16", "int8")),
    (["--trt=int8"], ("int8",)),
])
def test_trt_flag_bare_means_fp16(tmp_path, monkeypatch, flags, precisions):
    seen = {}

    def fake_export(student, out, **kwargs):
        seen.update(kwargs)
        raise _Stop("stopped after parsing")

    monkeypatch.setattr(build_mod, "export_bundle", fake_export)
    result = CliRunner().invoke(main, ["export", str(tmp_path / "s.safetensors"), "--out", str(tmp_path / "b"), *flags])
    assert result.exit_code == 1 and "stopped after parsing" in result.output, result.output
    assert seen["trt"] == precisions


def test_bare_trt_reaches_the_tensorrt_check(tmp_path):
    out = run_srkd("export", make_student(tmp_path / "s.safetensors"), "--out", tmp_path / "b", "--trt")
    assert out.returncode == 1, out.stderr  # was 2: "--trt requires an argument"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srkd: error: --trt needs"), out.stderr


def test_profile_error_comes_before_the_tensorrt_check(tmp_path):
    out = run_srkd("export", make_student(tmp_path / "s.safetensors"), "--out", tmp_path / "b", "--trt",
                   "--trt-profile", "16:64:128", "--sizes", "64,256")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--sizes 256 fall outside it" in lines[0], out.stderr


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A bundle listing an engine built on an RTX 4090 with TensorRT 10.8 (not loadable anywhere here)."""
    tmp = tmp_path_factory.mktemp("foreign")
    made = export_bundle(make_student(tmp / "s.safetensors"), tmp / "b", images=1, crop=64, latency_sizes=(16,),
                         latency_runs=1)
    engine = made.path / ENGINE
    engine.write_bytes(b"not really an engine")
    manifest = json.loads((made.path / "manifest.json").read_text())
    manifest["artifacts"].append({"file": ENGINE, "backend": "tensorrt", "precision": "fp16", "sha256": sha256_file(engine),
                                  "toolchain": {"tensorrt": "10.8.0.43", "compute_capability": [8, 9]},
                                  "parity": {"passed": True}, "latency": {}})
    write_manifest(made.path, Manifest.parse(manifest, path=made.path))
    return made.path


@pytest.fixture
def gpu_box(monkeypatch):
    """This machine as an H100 with TensorRT 10.9 would be: the engine is found runnable, then refused."""
    monkeypatch.setattr(backends_mod, "unrunnable_backends", lambda: {})
    monkeypatch.setattr(trt_mod, "require_tensorrt", lambda **kw: (types.SimpleNamespace(__version__="10.9.0.34"), (9, 0)))


def test_check_lists_the_engine_as_skipped(foreign, gpu_box):
    checks = check_bundle(foreign, images=1, crop=64, sizes=(16,), runs=1)
    by_file = {c.entry.file: c for c in checks}
    assert by_file["model.onnx"].passed and by_file["student.safetensors"].passed
    skipped = by_file[ENGINE]
    assert skipped.parity is None and not skipped.passed
    assert "built for TensorRT 10.8.0.43 (this machine: 10.9.0.34)" in skipped.skipped


def test_check_without_tensorrt_installed_skips_too(foreign, monkeypatch):
    monkeypatch.setattr(backends_mod, "unrunnable_backends", lambda: {})  # a GPU box without the tensorrt package
    checks = check_bundle(foreign, images=1, crop=64, sizes=(), runs=1)
    assert [c.entry.file for c in checks if c.skipped] == [ENGINE]


def test_check_cli_reports_and_passes(foreign, gpu_box):
    result = CliRunner().invoke(main, ["check", str(foreign), "--images", "1", "--crop", "64", "--sizes", "16",
                                       "--runs", "1", "--no-record"])
    assert result.exit_code == 0, result.output
    assert f"skipped {ENGINE} (tensorrt:fp16): {ENGINE}: built for TensorRT 10.8.0.43" in result.output
    assert "all 2 artifacts pass; 1 could not run here" in result.output


def test_bench_cli_reports_and_goes_on(foreign, gpu_box):
    result = CliRunner().invoke(main, ["bench", str(foreign), "--sizes", "16", "--runs", "1", "--warmup", "0"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime" in result.output and f"skipped: {ENGINE} ({ENGINE}: built for TensorRT" in result.output
    only = CliRunner().invoke(main, ["bench", str(foreign), "--sizes", "16", "--runs", "1", "--backend", "tensorrt"])
    assert only.exit_code == 1 and "no tensorrt artifact can run here" in only.output


def test_gate_shows_the_engine_as_skipped_not_regressed(foreign, gpu_box):
    settings = {"images": 1, "crop": 64, "sizes": (16,), "runs": 1}
    current = measure_gate(foreign, **settings)
    key = f"tensorrt:fp16:{ENGINE}"
    assert key not in current["artifacts"] and "built for TensorRT 10.8.0.43" in current["skipped"][key]
    baseline = json.loads(json.dumps(current))
    baseline["artifacts"][key] = {**baseline["artifacts"]["onnxruntime:fp32:model.onnx"], "file": ENGINE}  # measured on the GPU box
    rows = compare(baseline, current)
    row = next(r for r in rows if r.artifact == key)
    assert row.status == "skipped" and not row.regressed
    assert load_bundle(foreign).find(backend="tensorrt", precision="fp16").file == ENGINE
