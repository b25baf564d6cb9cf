"""``srkd gate``: passes on a rerun, fails on an injected slowdown and on an injected accuracy drop."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from conftest import run_srkd
from export_helpers import make_student

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.export.build import export_bundle
from srkd.export.gate import benchmark_entries, compare, measure_gate

SETTINGS = {"images": 2, "crop": 96, "sizes": (48,), "runs": 8}
# Reruns usually stay within a few per cent, but one fresh-clone CI run saw a torch 48 px ratio move
# 1.34x (8 timed runs of a tiny model on a shared 2-core machine); the injected slowdown is ~3x, so a
# 1.6x bound keeps the test meaningful without flaking. The CLI default stays 1.15.
RERUN_SLOWDOWN = 1.6


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    student = make_student(tmp_path_factory.mktemp("s") / "tiny.safetensors")
    return export_bundle(student, tmp_path_factory.mktemp("b") / "bundle", images=1, crop=64, latency_sizes=(16,),
                         latency_runs=1).path


@pytest.fixture(scope="module")
def baseline(bundle):
    return measure_gate(bundle, **SETTINGS)


def test_baseline_contents(baseline):
    assert baseline["format"] == "srkd-gate-baseline/1"
    assert set(baseline["reference"]["min_ms"]) == {"torch", "onnxruntime"} and min(baseline["reference"]["min_ms"].values()) > 0
    assert set(baseline["artifacts"]) == {"torch:fp32:student.safetensors", "onnxruntime:fp32:model.onnx"}
    art = baseline["artifacts"]["onnxruntime:fp32:model.onnx"]
    fig = art["sizes"]["48"]
    assert art["passed"] and fig["ratio"] == pytest.approx(fig["min_ms"] / fig["reference_ms"])
    assert baseline["settings"]["threads"] == 1 and baseline["host"]["cpu"]
    json.dumps(baseline, allow_nan=False)


def test_rerun_passes(bundle, baseline):
    rows = compare(baseline, measure_gate(bundle, **SETTINGS), max_slowdown=RERUN_SLOWDOWN)
    assert rows and not [r for r in rows if r.regressed], [(r.artifact, r.metric, r.baseline, r.current) for r in rows]


def _slow(monkeypatch):
    real = OrtRunner.infer_impl

    def slower(self, batch):
        start = time.perf_counter()
        out = real(self, batch)
        time.sleep(2 * (time.perf_counter() - start) + 0.002)  # ~3x the time
        return out

    monkeypatch.setattr(OrtRunner, "infer_impl", slower)


def _biased(monkeypatch):
    real = OrtRunner.infer_impl
    monkeypatch.setattr(OrtRunner, "infer_impl", lambda self, batch: real(self, batch) + 0.03)


def test_injected_slowdown_fails(bundle, baseline, monkeypatch):
    _slow(monkeypatch)
    bad = [r for r in compare(baseline, measure_gate(bundle, **SETTINGS), max_slowdown=RERUN_SLOWDOWN) if r.regressed]
    assert [(r.artifact, r.metric) for r in bad] == [("onnxruntime:fp32:model.onnx", "48px latency / reference")]
    assert bad[0].current / bad[0].baseline > 2


def test_injected_accuracy_drop_fails(bundle, baseline, monkeypatch):
    _biased(monkeypatch)
    bad = [r for r in compare(baseline, measure_gate(bundle, **SETTINGS), max_slowdown=RERUN_SLOWDOWN) if r.regressed]
    assert {(r.artifact, r.metric) for r in bad} == {("onnxruntime:fp32:model.onnx", "parity passed"),
                                                    ("onnxruntime:fp32:model.onnx", "PSNR vs HR (dB)")}
    drop = next(r for r in bad if r.metric.startswith("PSNR"))
    assert drop.baseline - drop.current > 0.05


def test_missing_and_new_artifacts(baseline):
    current = json.loads(json.dumps(baseline))
    current["artifacts"]["torch:bf16:student.safetensors"] = current["artifacts"].pop("torch:fp32:student.safetensors")
    status = {(r.artifact, r.status) for r in compare(baseline, current) if r.metric == "present"}
    assert status == {("torch:fp32:student.safetensors", "missing"), ("torch:bf16:student.safetensors", "new")}


def test_benchmark_json_is_custom_smaller_is_better(baseline):
    entries = benchmark_entries(baseline)
    assert all(set(e) >= {"name", "unit", "value"} and isinstance(e["value"], float) for e in entries)
    names = [e["name"] for e in entries]
    assert "onnxruntime:fp32:model.onnx 48px latency / reference workload" in names
    assert "torch:fp32:student.safetensors PSNR loss vs torch fp32 on HR" in names


def test_cli_update_then_pass(bundle, tmp_path):
    base, bench = tmp_path / "base.json", tmp_path / "bench.json"
    out = run_srkd("gate", bundle, "--baseline", base, "--update", "--images", "2", "--sizes", "48", "--runs", "8",
                   "--benchmark-json", bench)
    assert out.returncode == 0 and "baseline written" in out.stdout, out.stderr
    assert json.loads(base.read_text())["settings"]["sizes"] == [48]
    assert isinstance(json.loads(bench.read_text()), list)
    out = run_srkd("gate", bundle, "--baseline", base, "--max-slowdown", str(RERUN_SLOWDOWN))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "gate passed" in out.stdout and "latency / reference" in out.stdout


def test_cli_fails_with_a_table(bundle, tmp_path, monkeypatch):
    from srkd.cli import main

    base = tmp_path / "base.json"
    base.write_text(json.dumps(measure_gate(bundle, **SETTINGS)))
    _slow(monkeypatch)
    result = CliRunner().invoke(main, ["gate", str(bundle), "--baseline", str(base), "--max-slowdown", str(RERUN_SLOWDOWN)])
    assert result.exit_code == 1
    assert "REGRESSED" in result.output and "srkd: error:" in result.output and "1 regression(s)" in result.output


def test_cli_without_baseline(bundle, tmp_path):
    out = run_srkd("gate", bundle, "--baseline", tmp_path / "none.json")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no baseline yet" in out.stderr and "--update" in out.stderr
