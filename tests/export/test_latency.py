"""Latency: percentiles, MP/s and the host they were measured on."""
from __future__ import annotations

import pytest
import torch
from export_helpers import TINY

from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.export.latency import cpu_model, host_info, measure_latency
from srkd.export.onnx import export_onnx
from srkd.models import build_model, describe


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("edsr", TINY).eval()


def test_torch_latency_fields(model):
    with TorchRunner(model, spec=describe(model)) as runner:
        result = measure_latency(runner, sizes=(16, 24), runs=4, warmup=1)
    assert [s.size for s in result.sizes] == [16, 24]
    for s in result.sizes:
        assert 0 < s.p50_ms <= s.p95_ms <= s.p99_ms and s.runs == 4 and s.batch == 1
        assert s.mp_per_s == pytest.approx((s.size * 4) ** 2 / 1e6 / (s.p50_ms / 1e3))
    d = result.to_dict()
    assert d["cpu"] == cpu_model() and d["cpu"] and d["threads"] == torch.get_num_threads()
    assert d["gpu"] is None and d["name"] == "torch:fp32" and len(d["sizes"]) == 2


def test_ort_latency_records_its_threads(model, tmp_path):
    export_onnx(model, tmp_path / "m.onnx")
    with OrtRunner(tmp_path / "m.onnx", spec=describe(model), threads=1) as runner:
        result = measure_latency(runner, sizes=(16,), runs=2, warmup=0, batch=2)
    assert result.host["ort_threads"] == 1 and result.host["threads"] == 1
    assert result.sizes[0].batch == 2


def test_runs_must_be_positive(model):
    with TorchRunner(model, spec=describe(model)) as runner, pytest.raises(ValueError, match="runs"):
        measure_latency(runner, sizes=(16,), runs=0)


def test_host_info_without_runner():
    info = host_info()
    assert info["logical_cpus"] >= 1 and info["torch_threads"] >= 1 and "cpu" in info
