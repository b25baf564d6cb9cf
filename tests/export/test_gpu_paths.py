"""The GPU paths' defects that a CPU can show (issue 16): each test fails on the code before the fix.

No GPU, TensorRT or onnxruntime-gpu here: CUDA capability queries, the TensorRT module and ONNX
Runtime's provider list are faked where a test needs the "present" side.
"""
from __future__ import annotations

import types

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from export_helpers import make_student

import srkd.backends.onnxruntime.make as ort_make
import srkd.backends.tensorrt.build as trt_mod
from srkd.backends.onnxruntime.runner import OrtRunner, execution_providers, ort_trt_cache_dir
from srkd.backends.tensorrt.runner import TrtRunner
from srkd.bundle.choose import choose_artifact
from srkd.bundle.manifest import ArtifactEntry
from srkd.errors import BackendUnavailableError, ConfigError
from srkd.export.build import export_bundle
from srkd.export.latency import measure_latency
from srkd.export.onnx import export_onnx
from srkd.models import build_model, describe

FAKE_TRT = types.SimpleNamespace(__version__="10.16.1.11")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1}).eval()
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    export_onnx(model, path)
    return path, describe(model)


# ----- defect 5: ONNX Runtime must not fall back to the CPU behind a "GPU" artifact ----------------

def test_cuda_provider_on_cpu_onnxruntime_is_an_error_not_a_cpu_run(onnx_model):
    path, spec = onnx_model
    with pytest.raises(BackendUnavailableError, match="has no CUDAExecutionProvider") as info:
        OrtRunner(path, spec=spec, providers=execution_providers("cuda")).activate()
    assert "\n" not in str(info.value) and "onnxruntime-gpu" in str(info.value)


def test_provider_that_does_not_start_is_an_error(onnx_model, monkeypatch):
    """The build lists CUDA but the session comes up on the CPU (e.g. cuDNN missing): refused."""
    path, spec = onnx_model
    listed = onnxruntime.get_available_providers() + ["CUDAExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda **kw: None, raising=False)
    with pytest.warns(UserWarning), pytest.raises(BackendUnavailableError,
                                                  match="could not start CUDAExecutionProvider: the session came up on CPU"):
        OrtRunner(path, spec=spec, providers=execution_providers("cuda")).activate()


def test_fallback_is_off_and_cpu_runs_on_cpu(onnx_model):
    path, spec = onnx_model
    with OrtRunner(path, spec=spec) as runner:
        assert runner.session._enable_fallback is False  # a provider failing in run() raises
        assert runner.device == "cpu" and runner.toolchain()["providers"][0] == "CPUExecutionProvider"


class _FakeSession:
    """An InferenceSession that came up on the provider asked for (what onnxruntime-gpu does on a GPU)."""

    def __init__(self, path, sess_options=None, providers=()):
        self.providers = [p[0] if isinstance(p, tuple) else p for p in providers]
        self.fallback = True

    def disable_fallback(self):
        self.fallback = False

    def get_providers(self):
        return self.providers

    def get_inputs(self):
        return [types.SimpleNamespace(name="lr")]


def test_gpu_session_records_its_device_and_sizes_tiles_from_gpu_memory(onnx_model, monkeypatch):
    from srkd.serve.memory import memory_budget

    path, spec = onnx_model
    preloaded = []
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda **kw: preloaded.append(True), raising=False)
    monkeypatch.setattr(onnxruntime, "InferenceSession", _FakeSession)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 << 30, 16 << 30))
    runner = OrtRunner(path, spec=spec, providers=execution_providers("cuda", device_id=1)).activate()
    assert runner.device == "cuda:1" and preloaded and runner.session.fallback is False
    assert memory_budget(runner) == 4 << 30  # half the GPU's free memory, not a share of host RAM


def test_ort_tensorrt_cache_outside_a_read_only_bundle(tmp_path, monkeypatch):
    import srkd.backends.onnxruntime.runner as ort_mod

    monkeypatch.setattr(ort_mod, "installed_trt_version", lambda: "10.16.1.11")
    inside = ort_trt_cache_dir(tmp_path / "b", gpu="sm89")
    assert inside == tmp_path / "b" / "trt_cache" / "trt10.16.1-sm89" and inside.is_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ort_mod, "_writable", lambda folder: not str(folder).startswith(str(tmp_path / "ro")))
    outside = ort_trt_cache_dir(tmp_path / "ro", gpu="sm90")
    assert outside.is_relative_to(tmp_path / "cache" / "srkd" / "trt_cache") and outside.name == "trt10.16.1-sm90"
    assert outside.parent.name.startswith("ro-")


# ----- defect 6: TensorRT latencies are GPU latencies ------------------------------------------------

def test_tensorrt_latency_is_recorded_as_gpu_and_auto_uses_it(monkeypatch, tmp_path):
    torch.manual_seed(0)
    spec = describe(build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1}))
    monkeypatch.setattr(TrtRunner, "activate_impl", lambda self: None)
    monkeypatch.setattr(TrtRunner, "infer_impl", lambda self, x: np.zeros((x.shape[0], 3, x.shape[2] * 2, x.shape[3] * 2),
                                                                          np.float32))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
    runner = TrtRunner(tmp_path / "m.engine", spec=spec, precision="fp16", built_with={})
    with runner:
        lat = measure_latency(runner, sizes=(16, 32), runs=2, warmup=0).to_dict()
    assert lat["gpu"] == "NVIDIA H100"
    entry = lambda **kw: ArtifactEntry.from_dict({"sha256": "0" * 64, "toolchain": {}, **kw})  # noqa: E731
    engine = entry(file="m.engine", backend="tensorrt", precision="fp16", parity={"passed": True}, latency=lat)
    faster = entry(file="s.safetensors", backend="torch", precision="fp32", parity={"passed": True},
                   latency={"gpu": "NVIDIA H100", "sizes": [{"size": s, "p50_ms": 1e-6} for s in (16, 32)]})
    cpu_timed = entry(file="s.safetensors", backend="torch", precision="bf16", parity={"passed": True},
                      latency={"gpu": None, "cpu": "x", "sizes": [{"size": 16, "p50_ms": 1e-9}]})  # timed at export, on the CPU
    pick = choose_artifact([engine, faster, cpu_timed], precision="auto", device=torch.device("cuda"))
    assert pick is faster  # measured GPU latencies decide, not the fixed backend order


# ----- defect 2: the int8 model a TensorRT engine is built from parses in TensorRT ------------------

def _int32_dequantize(path) -> list[str]:
    model = onnx.load(str(path))
    ints = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT32}
    return [n.name for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in ints]


def test_tensorrt_bound_int8_has_float_biases_and_passes_parity(tmp_path, monkeypatch):
    monkeypatch.setattr(trt_mod, "require_tensorrt", lambda **kw: (FAKE_TRT, (8, 9)))
    monkeypatch.setattr(trt_mod, "make_engine", lambda ctx, **kw: None)  # no engine builder here
    student = make_student(tmp_path / "s.safetensors")
    cpu = export_bundle(student, tmp_path / "cpu", int8=True, images=1, crop=64, latency_sizes=(16,), latency_runs=1)
    assert _int32_dequantize(cpu.path / "model.int8.onnx")  # ONNX Runtime's default: INT32 biases
    made = export_bundle(student, tmp_path / "b", trt=("int8",), images=1, crop=64, latency_sizes=(16,), latency_runs=1)
    assert _int32_dequantize(made.path / "model.int8.onnx") == []
    art = made.find(backend="onnxruntime", precision="int8")
    assert art.parity.passed and art.quantization.biases == "float"
    assert art.quantization.activations == "int8 symmetric"


# ----- defect 7: a profile the export's own inputs break is refused before any work ------------------

@pytest.mark.parametrize(("options", "says"), [
    ({"trt_sides": (128, 256, 512)}, "the parity images (LR 16x16 px) fall outside it"),
    ({"trt_batch": (2, 4, 8)}, "its minimum batch must be 1"),
    ({"latency_sizes": (16, 2048)}, "--sizes 2048 fall outside it"),
])
def test_profile_that_cannot_serve_the_export_fails_first(tmp_path, monkeypatch, options, says):
    monkeypatch.setattr(trt_mod, "require_tensorrt", lambda **kw: (FAKE_TRT, (8, 9)))

    def no_work(*a, **kw):
        raise AssertionError("the export started working")

    monkeypatch.setattr(ort_make, "export_onnx", no_work)
    kwargs = {"images": 1, "crop": 64, "latency_sizes": (16,), "latency_runs": 1, **options}
    with pytest.raises(ConfigError, match="TensorRT profile of LR sides") as info:
        export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", trt=("fp16",), **kwargs)
    assert says in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "b").exists()


def test_profile_flags_need_trt(tmp_path):
    with pytest.raises(ConfigError, match="need --trt"):
        export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", trt_sides=(16, 64, 128))


# ----- TF32 stays off wherever fp32 is held to the 60 dB bound -----------------------------------------

def test_exact_fp32_turns_tf32_off_and_restores():
    from srkd.device import exact_fp32

    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    with exact_fp32():
        assert conv.fp32_precision == "ieee" and torch.backends.cuda.matmul.fp32_precision == "ieee"
    assert conv.fp32_precision == before
    assert execution_providers("cuda", precision="fp32")[0][1]["use_tf32"] == 0
    assert execution_providers("cuda", precision="fp16")[0][1]["use_tf32"] == 1
