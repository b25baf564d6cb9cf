"""``srkd doctor``: this machine as it is (no GPU), and the "present" branches with CUDA, TensorRT
and GPU providers faked by monkeypatching the capability queries."""
from __future__ import annotations

import json
import sys
import types

import onnxruntime
import pytest
import torch
from click.testing import CliRunner
from conftest import run_srkd

from srkd.backends.onnxruntime.doctor import onnxruntime_info
import srkd.backends.onnxruntime.doctor as ort_doctor
import srkd.backends.onnxruntime.runner as ort_mod
from srkd.backends.tensorrt.doctor import tensorrt_info
from srkd.cli import main
from srkd.doctor import machine_report, missing
from srkd.doctor.machine import torch_info


def test_doctor_here_says_what_is_missing():
    out = run_srkd("doctor")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("srkd ") and "CPU:" in text and "avx2" in text and "ONNX Runtime" in text
    if not torch.cuda.is_available():
        assert "no CUDA" in text and "usable here: cuda no" in text
    out = run_srkd("doctor", "--require", "cuda", "--require", "tensorrt", "--quick")
    if not torch.cuda.is_available():
        assert out.returncode == 1 and "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("srkd: error: required but not usable here: cuda: torch")
        assert "tensorrt" in lines[0]


def test_doctor_json():
    result = CliRunner().invoke(main, ["doctor", "--json", "--quick"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"torch", "cpu", "onnxruntime", "tensorrt", "openvino", "warnings", "can", "missing"} <= set(data)
    assert data["cpu"]["logical_cpus"] >= 1 and data["torch"]["version"] == torch.__version__
    assert data["can"]["cuda"] == torch.cuda.is_available() and data["missing"] == []


def test_require_openvino_follows_openvino():
    result = CliRunner().invoke(main, ["doctor", "--require", "openvino", "--quick"])
    has = machine_report(probe=False)["openvino"]["installed"]
    assert result.exit_code == (0 if has else 1), result.output


# ----- the present branches -------------------------------------------------------------------------

def _fake_cuda(monkeypatch) -> None:
    gpus = [types.SimpleNamespace(name="NVIDIA A100-SXM4-80GB", major=8, minor=0, total_memory=80 << 30),
            types.SimpleNamespace(name="Tesla T4", major=7, minor=5, total_memory=15 << 30)]
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(gpus))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: gpus[i])
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_90"])  # no sm_75, no PTX below
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91000)


def test_gpus_with_real_bf16(monkeypatch):
    _fake_cuda(monkeypatch)
    info = torch_info()
    assert info["cuda_available"] and info["cuda_build"] == "13.0" and info["why"] is None
    a100, t4 = info["gpus"]
    assert a100["compute_capability"] == [8, 0] and a100["bf16"] and a100["memory_gib"] == 80.0 and a100["torch_kernels"]
    assert t4["bf16"] is False and t4["fp16_tensor_cores"] and not t4["torch_kernels"]


def _fake_tensorrt(version: str = "10.16.1.11", *, builds: bool = True) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.float32 = "float32"
    trt.Logger = type("Logger", (), {"ERROR": 1, "WARNING": 2, "__init__": lambda self, level: None})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=0)
    trt.ActivationType = types.SimpleNamespace(RELU="relu")
    layer = types.SimpleNamespace(get_output=lambda i: "y")
    network = types.SimpleNamespace(add_input=lambda name, dtype, shape: "x", add_activation=lambda x, kind: layer,
                                    mark_output=lambda t: None)
    trt.Builder = type("Builder", (), {"__init__": lambda self, logger: None, "create_network": lambda self, flags: network,
                                       "create_builder_config": lambda self: object(),
                                       "build_serialized_network": lambda self, n, c: b"plan" if builds else None})
    trt.Runtime = type("Runtime", (), {"__init__": lambda self, logger: None,
                                       "deserialize_cuda_engine": lambda self, data: object()})
    return trt


def test_tensorrt_present_builds_a_one_layer_engine(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    info = tensorrt_info(cuda=True)
    assert info["installed"] and info["version"] == "10.16.1.11" and info["engine"]["ok"]
    assert tensorrt_info(cuda=False)["engine"] == {"ok": False, "detail": "no CUDA GPU visible to torch"}
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt("11.4.0.106", builds=False))
    failed = tensorrt_info(cuda=True)
    assert failed["engine"]["ok"] is False and "returned None" in failed["engine"]["detail"]


class _GpuSession:
    """An InferenceSession that comes up on the provider asked for, as onnxruntime-gpu does on a GPU."""

    def __init__(self, model, providers=(), sess_options=None):
        self.providers = list(providers)

    def disable_fallback(self):
        pass

    def get_providers(self):
        return self.providers

    def run(self, names, feeds):
        return [feeds["x"]]


def test_gpu_providers_present(monkeypatch):
    listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "WebGpuExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    monkeypatch.setattr(onnxruntime, "InferenceSession", _GpuSession)
    monkeypatch.setattr(ort_doctor, "ort_trt_library_major", lambda ort: 10)
    monkeypatch.setattr(ort_mod, "installed_trt_version", lambda: "11.4.0.106")
    info = onnxruntime_info()
    assert info["cuda"]["ok"] and info["tensorrt"]["ok"] and "WebGpuExecutionProvider" in info["accelerators"]
    assert info["tensorrt_library"] == "libnvinfer.so.10"
    assert any("needs TensorRT 10.x" in w and "11.4.0.106 is installed" in w for w in info["warnings"])


def test_cuda_provider_listed_but_not_starting(monkeypatch):
    """A real CPU onnxruntime told it has CUDA: the test session comes up on the CPU, and doctor says so."""
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.warns(UserWarning):
        info = onnxruntime_info()
    assert info["cuda"]["ok"] is False and "came up on CPUExecutionProvider" in info["cuda"]["detail"]


def test_mixed_onnxruntime_install_is_a_warning(monkeypatch):
    monkeypatch.setattr(ort_mod, "installed_distributions", lambda: ["onnxruntime==1.31.1", "onnxruntime-gpu==1.31.1"])
    warning = onnxruntime_info(probe=False)["warnings"][0]
    assert "share one package folder" in warning and "pip uninstall -y onnxruntime onnxruntime-gpu" in warning


def test_cli_on_a_faked_gpu_machine(monkeypatch):
    _fake_cuda(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", _GpuSession)
    result = CliRunner().invoke(main, ["doctor", "--require", "cuda", "--require", "tensorrt"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "torch " in out and "CUDA 13.0" in out and "GPU 0: NVIDIA A100-SXM4-80GB, sm_80, 80.0 GiB; bf16 units yes" in out
    assert "GPU 1: Tesla T4, sm_75" in out and "NO KERNELS" in out and "CUDA provider: yes" in out
    assert "TensorRT 10.16.1.11: engine build yes" in out and "usable here: cuda yes, tensorrt yes" in out
    report = machine_report()
    assert missing(report, ["cuda", "tensorrt"]) == [] and any("sm_75" in w for w in report["warnings"])


def test_doctor_bundle_lists_what_runs_here(tmp_path):
    from srkd.export.build import export_bundle
    from srkd.models import build_model
    from srkd.models.checkpoint import save_model

    torch.manual_seed(0)
    save_model(tmp_path / "s.safetensors", build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 1}))
    made = export_bundle(tmp_path / "s.safetensors", tmp_path / "b", images=1, crop=64, latency_sizes=(16,), latency_runs=1)
    result = CliRunner().invoke(main, ["doctor", str(made.path), "--device", "cpu", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    rows = {a["file"]: a for a in json.loads(result.output)["bundle"]["artifacts"]}
    assert rows["model.onnx"]["runs"] and rows["model.onnx"]["on"] == "cpu" and rows["student.safetensors"]["runs"]
    text = CliRunner().invoke(main, ["doctor", str(made.path), "--device", "cpu", "--quick"]).output
    assert "model.onnx" in text and "runs here (cpu)" in text and "--backend auto here:" in text
