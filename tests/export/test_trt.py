"""TensorRT and ONNX Runtime GPU paths: everything testable without them, plus GPU tests that skip here."""
from __future__ import annotations

import json

import numpy as np
import pytest
from export_helpers import apply, make_student, needs_gpu, needs_trt

from srkd.backends.onnxruntime.runner import execution_providers
from srkd.errors import BackendUnavailableError, ConfigError, ParityError
from srkd.backends.tensorrt.info import (
    EngineMismatchError,
    check_engine_compat,
    check_layer_precisions,
    engine_name,
    profile_shapes,
    require_layer_precisions,
)
from srkd.models.spec import ModelSpec, SizeReq

REBUILD = "srkd export b/student.safetensors --out b --overwrite --trt fp16"


def test_profile_from_size_requirement():
    p = profile_shapes(SizeReq())
    assert p.to_dict() == {"min": [1, 3, 1, 1], "opt": [1, 3, 256, 256], "max": [1, 3, 1024, 1024]}
    swin = profile_shapes(SizeReq(minimum=16, multiple_of=8), batch=(1, 2, 4))
    assert swin.min == (1, 3, 16, 16) and swin.opt == (2, 3, 256, 256) and swin.max == (4, 3, 1024, 1024)
    odd = profile_shapes(SizeReq(multiple_of=12), sides=(5, 100, 1000))
    assert odd.min[2] == 12 and odd.opt[2] == 108 and odd.max[2] == 996  # min/opt round up, max down
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        profile_shapes(SizeReq(), sides=(64, 32, 128))


def test_engine_name_carries_gpu_and_version():
    assert engine_name("fp16", capability=(8, 9), trt_version="10.8.0.43") == "model.fp16.sm89-trt10.8.0.engine"
    assert engine_name("int8", capability=(9, 0), trt_version="11.4.1") == "model.int8.sm90-trt11.4.1.engine"


def _entry(version="10.8.0.43", cc=(8, 9)):
    """A manifest entry as a bundle exported on an RTX 4090 with TensorRT 10.8 would hold it."""
    return {"file": "model.fp16.sm89-trt10.8.0.engine", "backend": "tensorrt", "precision": "fp16",
            "toolchain": {"tensorrt": version, "compute_capability": list(cc)}}


def _built():
    """What the runner checks: the engine's file name and the toolchain its manifest entry records."""
    entry = _entry()
    return {"file": entry["file"], "toolchain": entry["toolchain"]}


def test_engine_mismatch_names_the_rebuild_command():
    check_engine_compat(**_built(), trt_version="10.8.0.43", capability=(8, 9), rebuild=REBUILD)  # same: fine
    check_engine_compat(**_built(), trt_version="10.8.0.99", capability=(8, 9), rebuild=REBUILD)  # build number only
    with pytest.raises(EngineMismatchError) as info:
        check_engine_compat(**_built(), trt_version="10.9.0.34", capability=(9, 0), rebuild=REBUILD)
    text = str(info.value)
    assert text.startswith("model.fp16.sm89-trt10.8.0.engine: built for TensorRT 10.8.0.43 (this machine: 10.9.0.34)")
    assert "GPU sm89 (this machine: sm90)" in text and text.endswith(f"Rebuild it here: {REBUILD}")
    assert isinstance(info.value, BackendUnavailableError) and "\n" not in text
    with pytest.raises(EngineMismatchError, match=r"GPU sm89 \(this machine: sm86\)"):
        check_engine_compat(**_built(), trt_version="10.8.0.43", capability=(8, 6), rebuild=REBUILD)


def test_bundle_with_foreign_engine_says_how_to_rebuild(tmp_path, monkeypatch):
    """A fake manifest listing an engine built elsewhere: the runner refuses before loading it."""
    import types

    import srkd.backends.tensorrt.build as trt_mod
    from srkd.bundle.reader import load_bundle
    from srkd.bundle.manifest import Manifest, write_manifest
    from srkd.export.build import export_bundle
    from srkd.fsutil import sha256_file

    made = export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", images=1, crop=64,
                         latency_sizes=(16,), latency_runs=1, fp16=True)
    engine = made.path / "model.fp16.sm89-trt10.8.0.engine"
    engine.write_bytes(b"not really an engine")
    manifest = json.loads((made.path / "manifest.json").read_text())
    manifest["artifacts"].append({**_entry(), "sha256": sha256_file(engine), "parity": {"passed": True}, "latency": {}})
    write_manifest(made.path, Manifest.parse(manifest, path=made.path))
    bundle = load_bundle(made.path)
    entry = bundle.find(backend="tensorrt", precision="fp16")
    with pytest.raises(BackendUnavailableError) as info:  # here: TensorRT or the GPU is missing
        bundle.runner(entry).activate()
    assert "a TensorRT engine needs" in str(info.value)
    # on a machine with TensorRT 10.9 and an H100 (sm90): the mismatch, with the command that rebuilds it
    monkeypatch.setattr(trt_mod, "require_tensorrt", lambda **kw: (types.SimpleNamespace(__version__="10.9.0.34"), (9, 0)))
    with pytest.raises(EngineMismatchError) as info:
        bundle.runner(entry).activate()
    text = str(info.value)
    assert "built for TensorRT 10.8.0.43 (this machine: 10.9.0.34) and GPU sm89 (this machine: sm90)" in text
    rebuild = f"srkd export {made.path / 'student.safetensors'} --out {made.path} --overwrite --opset 17 --fp16"
    assert text.endswith(f"Rebuild it here: {rebuild}") and bundle.rebuild_command() == rebuild


# Inspector output in the documented shapes: TensorRT 10 ("Format/Datatype" strings) and 11 ("DataType").
TRT10 = {"Layers": [
    {"Name": "/head/head.0/Conv", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "lr", "Format/Datatype": "Row major linear FP32"}]},
    {"Name": "/body/body.0/body/body.0/Conv + /body/body.0/body/body.1/Relu", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "t1", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
    {"Name": "/tail/tail.0/tail.0.1/DepthToSpace", "LayerType": "Shuffle",
     "Inputs": [{"Name": "t2", "Format/Datatype": "Row major linear FP16 format"}]},
    {"Name": "/tail/tail.1/Conv", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "t3", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
], "Bindings": ["lr", "sr"]}
TRT11 = {"Layers": [
    {"Name": "conv_0", "LayerType": "Convolution", "Inputs": [{"Name": "a", "DataType": "Int8", "Format": "kCHW32"}]},
    {"Name": "conv_1 + relu", "LayerType": "Convolution", "Inputs": [{"Name": "b", "DataType": "Int8", "Format": "kCHW32"}]},
    {"Name": "Conv_5", "LayerType": "Convolution", "Inputs": [{"Name": "c", "DataType": "Float", "Format": "kLINEAR"}]},
], "I/O Tensors": [{"Name": "lr", "IOMode": "Input", "DataType": "Float"}]}


def test_layer_precision_check_over_inspector_json():
    report = check_layer_precisions(json.dumps(TRT10), precision="fp16")
    assert not report.passed and report.offending == [("/head/head.0/Conv", "fp32")] and len(report.layers) == 3
    with pytest.raises(ParityError, match=r"1 of 3 compute layers do not run in fp16: /head/head.0/Conv \(fp32\)"):
        require_layer_precisions(report, label="model.fp16.engine")
    int8 = check_layer_precisions(TRT11, precision="int8")
    assert [p for _, p in int8.layers] == ["int8", "int8", "fp32"] and not int8.passed
    kept = check_layer_precisions(TRT11, precision="int8", allow_fp32=["Conv_5"])  # kept fp32 by an int8 remedy
    assert kept.passed and kept.to_dict()["by_precision"] == {"int8": 2, "fp32": 1}
    with pytest.raises(ParityError, match="lists no convolution layers"):
        require_layer_precisions(check_layer_precisions({"Layers": []}, precision="fp32"), label="e")
    with pytest.raises(ConfigError, match="DETAILED"):
        check_layer_precisions({"Layers": ["conv_0", "conv_1"]}, precision="fp32")


def test_ort_gpu_provider_options():
    spec = ModelSpec(arch="edsr", hparams={}, scale=4, size_req=SizeReq(minimum=8))
    assert execution_providers("cpu") == ["CPUExecutionProvider"]
    cuda = execution_providers("cuda")
    assert cuda[0] == ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC", "use_tf32": 0})
    assert cuda[-1] == "CPUExecutionProvider"
    name, opts = execution_providers("tensorrt", spec=spec, cache_dir="/tmp/c", precision="fp16")[0]
    assert name == "TensorrtExecutionProvider" and opts["trt_engine_cache_enable"] and opts["trt_fp16_enable"]
    assert opts["trt_engine_cache_path"] == "/tmp/c" and opts["trt_profile_min_shapes"] == "lr:1x3x8x8"
    assert opts["trt_profile_max_shapes"] == "lr:1x3x1024x1024"
    with pytest.raises(ConfigError, match="expected one of cpu, cuda, tensorrt"):
        execution_providers("rocm")


def test_export_trt_without_tensorrt_says_what_is_missing(tmp_path):
    from conftest import run_srkd

    student = make_student(tmp_path / "s.safetensors")
    out = run_srkd("export", student, "--out", tmp_path / "b", "--trt", "fp16")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srkd: error: --trt needs")
    assert ("TensorRT Python package" in lines[0] and "pip install" in lines[0]) or "NVIDIA GPU" in lines[0]
    assert not (tmp_path / "b").exists()


@apply(needs_trt)
def test_trt_engines_build_and_pass_parity(tmp_path):
    from srkd.export.build import export_bundle

    made = export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", trt=("fp32", "fp16", "int8"),
                         trt_sides=(16, 64, 128), images=1, crop=64, latency_sizes=(16,), latency_runs=2)
    engines = [a for a in made.artifacts if a.backend == "tensorrt"]
    assert [a.precision for a in engines] == ["fp32", "fp16", "int8"]
    for art in engines:
        assert art.parity.passed and art.engine.layer_check.passed
        assert art.toolchain["tensorrt"] and len(art.toolchain["compute_capability"]) == 2
        assert art.latency.gpu  # timed on the GPU and recorded so (issue 16, defect 6)
    assert made.find(backend="onnxruntime", precision="int8").quantization.biases == "float"  # it parsed


@apply(needs_trt)
def test_bare_trt_flag_builds_fp16(tmp_path):
    from conftest import run_srkd

    out = run_srkd("export", make_student(tmp_path / "s.safetensors"), "--out", tmp_path / "b", "--images", "1",
                   "--crop", "64", "--sizes", "16", "--runs", "2", "--trt")
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [a["precision"] for a in manifest["artifacts"] if a["backend"] == "tensorrt"] == ["fp16"]


@apply(needs_gpu)
def test_ort_cuda_runner(tmp_path):
    from srkd.backends.onnxruntime.runner import available_kinds
    from srkd.export.build import export_bundle

    if "cuda" not in available_kinds():
        pytest.skip("onnxruntime here has no CUDAExecutionProvider (pip install onnxruntime-gpu)")
    made = export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", images=1, crop=64,
                         latency_sizes=(16,), latency_runs=1)
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    with made.runner(made.find(backend="onnxruntime"), device="cuda") as gpu, made.runner(made.find(backend="torch")) as cpu:
        assert "CUDAExecutionProvider" in gpu.session.get_providers()
        assert np.abs(gpu.infer(x) - cpu.infer(x)).max() < 1e-3


@apply(needs_gpu)
def test_torch_cuda_fp32_is_exact_fp32(tmp_path):
    """TF32 off: a conv stack on the GPU stays within the 60 dB fp32 bound of the CPU's output."""
    from srkd.backends.pytorch.runner import TorchRunner
    from srkd.export.parity import check_parity
    from srkd.models.checkpoint import load_model

    student = make_student(tmp_path / "s.safetensors")
    model, spec = load_model(student)
    photos = [np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)]
    with TorchRunner(model, spec=spec) as cpu, TorchRunner(load_model(student)[0], spec=spec, device="cuda") as gpu:
        parity = check_parity(gpu, cpu, images=photos, scale=spec.scale)
    assert parity.passed and parity.psnr_vs_ref >= 60, parity.summary()


@apply(needs_gpu)
def test_torch_cuda_runner_parity(tmp_path):
    from srkd.export.build import export_bundle
    from srkd.export.check import check_bundle

    made = export_bundle(make_student(tmp_path / "s.safetensors"), tmp_path / "b", images=1, crop=64,
                         latency_sizes=(16,), latency_runs=1, bf16=True)
    checks = check_bundle(made.path, images=1, crop=64, sizes=(16,), runs=2, device="cuda", skip=("onnxruntime",))
    assert [c.entry.backend for c in checks if c.skipped] == ["onnxruntime"]
    ran = [c for c in checks if not c.skipped]
    assert all(c.passed for c in ran) and ran[0].latency.host["gpu"]
