"""The typed manifest: bundles written before it existed load, run and round-trip byte for byte; a broken
manifest is one error line naming the bundle and the field."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from srkd.bundle.choose import open_runner
from srkd.bundle.manifest import Manifest, read_manifest, write_manifest
from srkd.bundle.reader import load_bundle
from srkd.bundle.records import Engine
from srkd.errors import CheckpointError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_BUNDLE = FIXTURES / "bundle_v1"  # written by srkd at 1762496, before the manifest types
OLD_FULL = FIXTURES / "manifest_v1_full.json"  # bf16, fp16, int8 and OpenVINO artifacts, each re-checked


@pytest.mark.parametrize("path", [OLD_BUNDLE / "manifest.json", OLD_FULL], ids=["bundle", "full"])
def test_an_old_manifest_round_trips_byte_for_byte(path, tmp_path):
    text = path.read_text()
    manifest = Manifest.parse(json.loads(text), path=path)
    write_manifest(tmp_path, manifest)
    assert (tmp_path / "manifest.json").read_text() == text


def test_an_old_manifest_reads_as_types():
    m = Manifest.parse(json.loads(OLD_FULL.read_text()), path=OLD_FULL)
    assert [a.key for a in m.artifacts] == ["torch:fp32", "onnxruntime:fp32", "torch:bf16", "onnxruntime:fp16",
                                             "onnxruntime:int8", "openvino:fp32", "openvino:bf16", "openvino:int8"]
    int8 = m.artifacts[4]
    assert int8.quantization.calibration.kind == "parity" and int8.quantization.attempts[0].passed
    assert int8.parity.criterion.endswith("(fp32 - 0.3)") and int8.check.parity.passed
    assert m.artifacts[2].options == {"channels_last": True, "autocast": "bfloat16"}
    assert m.artifacts[5].companions[0].file == "model.bin" and m.artifacts[5].runs_in == "fp32"
    assert all(a.latency.sizes[0].size == 16 and a.check.latency.sizes[0].p50_ms > 0 for a in m.artifacts)
    assert m.spec.arch == "edsr" and m.spec.scale == 2 and m.parity_data.images == ("astronaut",)
    assert m.export.flags == ("--opset 17", "--bf16", "--openvino", "--fp16", "--int8")


def test_an_old_bundle_loads_and_runs():
    bundle = load_bundle(OLD_BUNDLE)  # hashes checked
    assert bundle.find(backend="onnxruntime").check.parity.passed
    x = np.random.default_rng(0).random((1, 3, 12, 10), dtype=np.float32)
    with open_runner(OLD_BUNDLE, backend="torch") as ref, open_runner(OLD_BUNDLE, backend="onnxruntime") as ort:
        assert np.abs(ref.infer(x) - ort.infer(x)).max() < 1e-4


def _broken(tmp_path, edit):
    folder = tmp_path / "b"
    shutil.copytree(OLD_BUNDLE, folder)
    data = json.loads((folder / "manifest.json").read_text())
    edit(data)
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("edit,needle", [
    (lambda m: m.update(format_version=2), "format_version 2, expected 1"),
    (lambda m: m.pop("artifacts"), "missing field 'artifacts'"),
    (lambda m: m["artifacts"][1].pop("sha256"), "artifacts[1] (model.onnx): missing field 'sha256'"),
    (lambda m: m["artifacts"][1]["parity"].pop("passed"), "artifacts[1] (model.onnx).parity: missing field 'passed'"),
    (lambda m: m["artifacts"][0]["parity"].update(passed="yes"),
     "artifacts[0] (student.safetensors).parity.passed: expected bool, got a string"),
    (lambda m: m["artifacts"][1]["latency"].update(sizes={}), "latency.sizes: expected a list, got an object"),
    (lambda m: m["model"].pop("arch"), "model: srkd metadata lacks 'arch'"),
    (lambda m: m["artifacts"][1].update(precision="int4"), "precision 'int4' not among fp32, bf16, fp16, int8"),
    (lambda m: m["artifacts"][1].update(backend="warp"), "backend 'warp' is not one this srkd has (torch, onnxruntime"),
])
def test_a_broken_manifest_is_one_line_naming_the_bundle(tmp_path, edit, needle):
    folder = _broken(tmp_path, edit)
    with pytest.raises(CheckpointError) as info:
        load_bundle(folder)
    text = str(info.value)
    assert text.startswith(str(folder / "manifest.json")) and needle in text and "\n" not in text, text


def test_unknown_keys_are_kept(tmp_path):
    folder = _broken(tmp_path, lambda m: (m.update(future={"a": 1}), m["artifacts"][1].update(newer=[1, 2])))
    manifest = read_manifest(folder)
    assert manifest.other == {"future": {"a": 1}} and manifest.artifacts[1].other == {"newer": [1, 2]}
    write_manifest(tmp_path, manifest)
    again = json.loads((tmp_path / "manifest.json").read_text())
    assert again["future"] == {"a": 1} and again["artifacts"][1]["newer"] == [1, 2]


def test_engine_record():
    info = {"source": "model.fp16.onnx", "tensorrt": "10.8.0.43", "compute_capability": [8, 9], "opt_level": 3,
            "profile": {"min": [1, 3, 1, 1], "opt": [1, 3, 256, 256], "max": [1, 3, 1024, 1024]}, "timing_cache": None,
            "strongly_typed": True, "layer_check": {"asked": "fp16", "compute_layers": 3, "by_precision": {"fp16": 3},
                                                     "offending": [], "passed": True}}
    engine = Engine.from_dict(info)
    assert engine.compute_capability == (8, 9) and engine.layer_check.by_precision == {"fp16": 3}
    assert engine.to_dict() == info
