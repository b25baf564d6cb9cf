"""``srkd bench`` through the real CLI: a latency table and JSON with the host it ran on."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import run_srkd

from srkd.export.build import export_bundle
from srkd.models import build_model
from srkd.models.checkpoint import save_model


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    torch.manual_seed(0)
    save_model(tmp / "tiny.safetensors", build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 2}))
    return export_bundle(tmp / "tiny.safetensors", tmp / "bundle", images=1, crop=64, latency_sizes=(16,),
                         latency_runs=2).path


def test_bench_table_and_json(bundle, tmp_path):
    out = run_srkd("bench", bundle, "--sizes", "16,24", "--runs", "3", "--threads", "1", "--json", tmp_path / "b.json")
    assert out.returncode == 0, out.stderr
    assert "p50 ms" in out.stdout and "MP/s" in out.stdout and "CPU:" in out.stdout
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["host"]["cpu"] and data["host"]["torch_threads"] == 1 and data["host"]["ort_threads"] == 1
    assert data["model"]["arch"] == "edsr"
    rows = data["results"]
    assert [(r["backend"], r["size"]) for r in rows] == [("torch", 16), ("torch", 24), ("onnxruntime", 16), ("onnxruntime", 24)]
    for r in rows:
        assert r["precision"] == "fp32" and r["threads"] == 1 and r["runs"] == 3
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["mp_per_s"] > 0


def test_bench_one_backend_json_to_stdout(bundle):
    out = run_srkd("bench", bundle, "--sizes", "16", "--runs", "2", "--backend", "onnxruntime", "--json", "-")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["results"]
    assert [r["backend"] for r in rows] == ["onnxruntime"]


def test_bench_errors(tmp_path):
    out = run_srkd("bench", tmp_path / "none")
    assert out.returncode == 1 and "no such bundle folder" in out.stderr and "Traceback" not in out.stderr
    out = run_srkd("bench", tmp_path, "--sizes", "0")
    assert out.returncode == 2 and "positive" in out.stderr
