"""OpenVINO artifacts: IR from the ONNX, explicit inference precision, parity, companions, auto choice, CLI."""
from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest
from conftest import run_srkd
from export_helpers import make_student

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'srkd[openvino]'; CI installs it)")

import srkd.backends.openvino.runner as ov_mod  # noqa: E402
from srkd.backends.onnxruntime.runner import OrtRunner  # noqa: E402
from srkd.backends.openvino.runner import OpenVinoRunner, bf16_supported  # noqa: E402
from srkd.backends.pytorch.runner import TorchRunner  # noqa: E402
from srkd.bundle.choose import choose_artifact, open_runner  # noqa: E402
from srkd.bundle.manifest import Manifest, write_manifest  # noqa: E402
from srkd.bundle.records import CheckRecord, Parity  # noqa: E402
from srkd.bundle.reader import load_bundle  # noqa: E402
from srkd.errors import BackendUnavailableError, CheckpointError  # noqa: E402
from srkd.export.build import export_bundle  # noqa: E402
from srkd.export.check import check_bundle  # noqa: E402

FAST = {"latency_sizes": (16,), "latency_runs": 2, "images": 2, "crop": 96}
BF16 = bf16_supported()


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return make_student(tmp_path_factory.mktemp("s") / "tiny.safetensors")


@pytest.fixture(scope="module")
def bundle(student, tmp_path_factory):
    return export_bundle(student, tmp_path_factory.mktemp("b") / "bundle", openvino=True, int8=True, bf16=True, **FAST)


def _ov(bundle, precision):
    return next(a for a in bundle.artifacts if a.backend == "openvino" and a.precision == precision)


def test_openvino_artifacts_are_listed_with_their_weights(bundle):
    kinds = [(a.file, a.precision) for a in bundle.artifacts if a.backend == "openvino"]
    assert kinds == [("model.xml", "fp32")] + [("model.xml", "bf16")] * BF16 + [("model.int8.xml", "int8")]
    names = sorted(p.name for p in bundle.path.iterdir())
    assert {"model.xml", "model.bin", "model.int8.xml", "model.int8.bin"} <= set(names)
    for art in (_ov(bundle, "fp32"), _ov(bundle, "int8")):
        [companion] = art.companions
        assert companion.file == art.file.replace(".xml", ".bin") and len(companion.sha256) == 64
        assert art.conversion["dynamic"] and art.conversion["input_shape"] == "[?,3,?,?]"
        assert art.parity.passed and art.latency.sizes[0].p50_ms > 0
        assert art.toolchain["openvino"] and art.toolchain["threads"] >= 1
    assert bundle.manifest.export.flags == ("--opset 17", "--bf16", "--openvino", "--int8")


def test_manifest_says_what_each_artifact_runs_in(bundle):
    runs_in = {(a.backend, a.precision): a.runs_in for a in bundle.artifacts}
    assert runs_in[("torch", "fp32")] == "fp32, NCHW"
    assert runs_in[("torch", "bf16")] == "bf16 autocast, channels_last"
    assert runs_in[("openvino", "fp32")] == "fp32"  # never the plugin's own bf16 default
    assert runs_in[("openvino", "int8")] == "int8 (unquantized layers fp32)"
    if BF16:
        assert runs_in[("openvino", "bf16")] == "bf16"
        assert _ov(bundle, "bf16").parity.psnr_vs_ref >= 45
    assert _ov(bundle, "fp32").parity.psnr_vs_ref >= 60
    assert _ov(bundle, "int8").parity.criterion.endswith("(fp32 - 0.3)")


@pytest.mark.skipif(not BF16, reason="this CPU has no bf16 in OpenVINO, so there is no default to override")
def test_fp32_is_asked_for_explicitly_where_the_plugin_would_pick_bf16():
    import openvino as ov

    default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    assert default.get_type_name() == "bf16"  # what OpenVINO would run without srkd's explicit hint


def test_runner_keeps_dynamic_batch_and_size(bundle):
    rng = np.random.default_rng(0)
    with open_runner(bundle.path, backend="torch") as ref, \
            open_runner(bundle.path, backend="openvino", precision="fp32", device="cpu") as ovr:
        assert isinstance(ovr, OpenVinoRunner) and ovr.runs_in() == "fp32"
        for shape in [(1, 3, 16, 12), (2, 3, 20, 24), (1, 3, 16, 12)]:
            x = rng.random(shape, dtype=np.float32)
            y, z = ref.infer(x), ovr.infer(x)
            assert z.shape == (shape[0], 3, 4 * shape[2], 4 * shape[3]) and z.dtype == np.float32
            assert np.abs(y - z).max() < 1e-4


def test_threads_reach_the_runtimes(bundle):
    import torch

    before = torch.get_num_threads()
    try:
        with open_runner(bundle.path, backend="openvino", precision="int8", device="cpu", threads=1) as ovr:
            assert ovr.toolchain()["threads"] == 1
        with open_runner(bundle.path, backend="torch", precision="bf16", device="cpu", threads=1):
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_changed_ir_weights_are_detected(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle.path, copy)
    data = bytearray((copy / "model.bin").read_bytes())
    data[100] ^= 0xFF
    (copy / "model.bin").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.bin: sha256 .* does not match"):
        load_bundle(copy)
    (copy / "model.bin").unlink()
    with pytest.raises(CheckpointError, match=r"model\.bin: listed in manifest.json but missing"):
        load_bundle(copy)


def test_check_rechecks_openvino_artifacts(bundle):
    checks = check_bundle(bundle.path, images=1, crop=64, sizes=(16,), runs=2)
    rows = [c for c in checks if c.entry.backend == "openvino"]
    assert len(rows) == 2 + BF16 and all(c.passed and c.latency.sizes[0].p50_ms > 0 for c in rows)


def _with_p50(bundle, folder, p50, *, cpu=None):
    import shutil

    shutil.copytree(bundle.path, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        art["latency"]["sizes"] = [{"size": 256, "p50_ms": p50.get(f"{art['backend']}:{art['precision']}", 50.0)}]
        art["latency"]["cpu"] = cpu or art["latency"]["cpu"]
    write_manifest(folder, Manifest.parse(manifest, path=folder))
    return folder


def test_auto_picks_the_fastest_measured_artifact(bundle, tmp_path):
    fast_ov = _with_p50(bundle, tmp_path / "a", {"openvino:int8": 3.0, "onnxruntime:int8": 4.0})
    with open_runner(fast_ov, precision="auto") as runner:
        assert isinstance(runner, OpenVinoRunner) and runner.precision == "int8"
    with open_runner(fast_ov, precision="fp32") as runner:  # a named precision restricts the choice
        assert runner.precision == "fp32"
    fast_ort = _with_p50(bundle, tmp_path / "b", {"openvino:int8": 9.0, "onnxruntime:int8": 4.0})
    with open_runner(fast_ort, precision="auto") as runner:
        assert isinstance(runner, OrtRunner) and runner.precision == "int8"


def test_figures_from_another_cpu_count_only_with_a_warning(bundle, tmp_path, caplog):
    import logging
    import torch

    elsewhere = _with_p50(bundle, tmp_path / "a", {"openvino:fp32": 2.0}, cpu="Some Other CPU 9000")
    arts = load_bundle(elsewhere).artifacts
    with caplog.at_level(logging.WARNING, logger="srkd.bundle.choose"):
        pick = choose_artifact(arts, precision="auto", device=torch.device("cpu"))
    assert (pick.backend, pick.precision) == ("openvino", "fp32")
    assert "measured on another CPU" in caplog.text and "srkd check" in caplog.text
    # once one artifact is timed here (srkd check), figures from elsewhere no longer decide
    arts[0] = dataclasses.replace(arts[0], check=CheckRecord(parity=Parity(passed=True),
                                                             latency=dataclasses.replace(arts[0].latency, cpu=None)))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="srkd.bundle.choose"):
        pick = choose_artifact(arts, precision="auto", device=torch.device("cpu"))
    assert "measured on another CPU" not in caplog.text and pick is not None


def test_without_openvino_auto_falls_back_and_names_the_extra(bundle, tmp_path, monkeypatch):
    fast_ov = _with_p50(bundle, tmp_path / "a", {"openvino:int8": 1.0, "torch:bf16": 2.0})
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    assert ov_mod.cpu_capabilities() == []
    import torch

    pick = choose_artifact(load_bundle(fast_ov).artifacts, precision="auto", device=torch.device("cpu"))
    assert (pick.backend, pick.precision) == ("torch", "bf16")
    with pytest.raises(BackendUnavailableError, match=r"pip install 'srkd\[openvino\]'"):
        with open_runner(fast_ov, backend="openvino", precision="int8", device="cpu"):
            pass
    with open_runner(fast_ov, precision="auto") as runner:
        assert isinstance(runner, TorchRunner)


def test_export_without_openvino_says_so_first_and_leaves_nothing(student, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(BackendUnavailableError, match=r"OpenVINO is not installed \(pip install 'srkd\[openvino\]'\)"):
        export_bundle(student, tmp_path / "b", openvino=True, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_missing_bf16_is_recorded_not_silent(student, tmp_path, monkeypatch):
    monkeypatch.setattr(ov_mod, "bf16_supported", lambda: False)  # a CPU without bf16 units
    made = export_bundle(student, tmp_path / "b", openvino=True, **FAST)
    assert [a.precision for a in made.artifacts if a.backend == "openvino"] == ["fp32"]
    [skip] = made.manifest.export.skipped
    assert skip.artifact.startswith("openvino:bf16") and "no bf16" in skip.why


def test_cli_export_cpu_and_upscale_on_openvino(student, tmp_path, photo):
    from srkd.data.io import write_image

    out = run_srkd("export", student, "--out", tmp_path / "b", "--cpu", "--images", "2", "--crop", "96",
                   "--sizes", "16", "--runs", "2")
    assert out.returncode == 0, out.stderr
    assert "openvino:fp32 runs in fp32" in out.stdout and "openvino:int8 runs in int8" in out.stdout
    assert "model.bin" in out.stdout and "--backend auto --precision auto here:" in out.stdout
    (tmp_path / "in").mkdir()
    for i in range(2):
        write_image(tmp_path / "in" / f"p{i}.png", photo[i * 40:i * 40 + 40, :48])
    up = run_srkd("upscale", tmp_path / "in", "--model", tmp_path / "b", "--backend", "openvino",
                  "--precision", "fp32", "--out", tmp_path / "out", "--threads", "1")
    assert up.returncode == 0, up.stderr
    assert "on openvino:fp32" in up.stdout
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    assert report["runner"] == "openvino:fp32" and report["settings"]["threads"] == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["p0_x4.png", "p1_x4.png"]


def test_gate_times_openvino_against_its_own_reference(bundle):
    from srkd.export.gate import measure_gate

    baseline = measure_gate(bundle.path, images=1, crop=64, sizes=(16,), runs=2)
    assert set(baseline["reference"]["min_ms"]) == {"torch", "onnxruntime", "openvino"}
    assert baseline["reference"]["min_ms"]["openvino"] > 0
    ov_keys = [k for k in baseline["artifacts"] if k.startswith("openvino:")]
    assert sorted(ov_keys) == sorted(["openvino:fp32:model.xml", "openvino:int8:model.int8.xml"]
                                     + ["openvino:bf16:model.xml"] * BF16)
    assert all(baseline["artifacts"][k]["passed"] for k in ov_keys)


def test_export_times_every_runtime_with_the_same_threads(student, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        made = export_bundle(student, tmp_path / "b", openvino=True, bf16=True, threads=1, **FAST)
    finally:
        torch.set_num_threads(before)
    threads = {f"{a.backend}:{a.precision}": a.latency.threads for a in made.artifacts}
    assert set(threads.values()) == {1}, threads
