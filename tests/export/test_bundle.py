"""Bundles: manifest contents, runners per artifact, refusal of a failing artifact, re-checks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import ctrl_c_after
from export_helpers import TINY, make_student, perturb_onnx

import srkd.backends.onnxruntime.make as ort_make
from srkd.backends.onnxruntime.runner import OrtRunner
from srkd.backends.pytorch.runner import TorchRunner
from srkd.bundle.choose import open_runner
from srkd.bundle.manifest import Manifest, write_manifest
from srkd.bundle.reader import load_bundle
from srkd.cli import main
from srkd.errors import CheckpointError, ConfigError, ParityError, UnknownNameError
from srkd.export import target
from srkd.export.build import export_bundle
from srkd.export.check import check_bundle
from srkd.fsutil import sha256_file
from srkd.models import build_model

FAST = {"latency_sizes": (16,), "latency_runs": 2, "images": 2, "crop": 96}


def _strict_json(path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return make_student(tmp_path_factory.mktemp("student") / "tiny.safetensors")


@pytest.fixture(scope="module")
def bundle(student, tmp_path_factory):
    return export_bundle(student, tmp_path_factory.mktemp("b") / "bundle", **FAST)


def test_bundle_files_and_manifest(bundle, student):
    root = bundle.path
    assert sorted(p.name for p in root.iterdir()) == ["manifest.json", "model.onnx", "student.safetensors"]
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    assert (root / "student.safetensors").read_bytes() == student.read_bytes()
    m = _strict_json(root / "manifest.json")
    assert m["format_version"] == 1 and m["model"]["arch"] == "edsr" and m["model"]["scale"] == 4
    assert m["model"]["hparams"]["n_feats"] == 8 and m["model"]["provenance"] == {"method": "test"}
    assert m["thresholds"]["fp32"]["psnr_vs_ref_min_db"] == 60 and m["thresholds"]["int8"]["psnr_vs_hr_max_drop_db"] == 0.3
    assert m["parity_data"]["images"] == ["astronaut", "chelsea"]
    assert [(a["file"], a["backend"], a["precision"]) for a in m["artifacts"]] == [
        ("student.safetensors", "torch", "fp32"), ("model.onnx", "onnxruntime", "fp32")]
    for art in m["artifacts"]:
        assert art["sha256"] == sha256_file(root / art["file"]) and art["bytes"] == (root / art["file"]).stat().st_size
        assert art["toolchain"]["torch"] == torch.__version__
        p = art["parity"]
        assert p["passed"] and p["images"] == 2 and p["nan_count"] == 0 and p["threshold"] == 60
        assert {"psnr_vs_ref", "psnr_vs_hr", "max_abs", "mean_abs"} <= set(p)
        lat = art["latency"]
        assert lat["cpu"] and lat["threads"] >= 1 and lat["sizes"][0]["size"] == 16
        assert {"p50_ms", "p95_ms", "p99_ms", "mp_per_s"} <= set(lat["sizes"][0])
        assert art["io"]["input"]["name"] == "lr" and art["io"]["output"]["dims"][2:] == ["out_height", "out_width"]
        assert art["io"]["scale"] == 4 and art["io"]["size_req"] == {"minimum": 1, "multiple_of": 1}
    onnx_art = m["artifacts"][1]
    assert onnx_art["parity"]["psnr_vs_ref"] >= 60 and onnx_art["toolchain"]["opset"] == 17
    assert {"onnx", "onnxruntime", "exporter"} <= set(onnx_art["toolchain"])


def _with_latency(bundle, dest, p50):
    """A copy of ``bundle`` whose manifest says the artifacts took ``p50[backend]`` ms (None: no figures)."""
    import shutil

    shutil.copytree(bundle.path, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        ms = p50[art["backend"]]
        art["latency"]["sizes"] = [] if ms is None else [{**art["latency"]["sizes"][0], "p50_ms": ms}]
    write_manifest(dest, Manifest.parse(manifest, path=dest))
    return dest


def test_open_runner_per_backend(bundle, tmp_path):
    x = np.random.default_rng(0).random((2, 3, 12, 10), dtype=np.float32)
    ort_fast = _with_latency(bundle, tmp_path / "a", {"torch": 5.0, "onnxruntime": 1.0})
    with open_runner(ort_fast) as auto, open_runner(ort_fast, backend="torch") as ref:
        assert isinstance(auto, OrtRunner) and isinstance(ref, TorchRunner) and auto.spec.scale == 4
        a, b = auto.infer(x), ref.infer(x)
    assert a.shape == (2, 3, 48, 40) and np.abs(a - b).max() < 1e-4
    with pytest.raises(UnknownNameError, match="no onnxruntime:int8 artifact; the bundle has torch:fp32, onnxruntime:fp32"):
        open_runner(bundle.path, backend="onnxruntime", precision="int8")


def test_auto_takes_the_fastest_artifact_that_passed(bundle, tmp_path):
    torch_fast = _with_latency(bundle, tmp_path / "t", {"torch": 1.0, "onnxruntime": 5.0})
    assert isinstance(open_runner(torch_fast), TorchRunner)
    unknown = _with_latency(bundle, tmp_path / "u", {"torch": None, "onnxruntime": None})
    assert isinstance(open_runner(unknown), OrtRunner)  # no figures: ONNX Runtime first
    failed = _with_latency(bundle, tmp_path / "f", {"torch": 5.0, "onnxruntime": 1.0})
    manifest = json.loads((failed / "manifest.json").read_text())
    manifest["artifacts"][1]["check"] = {"parity": {"passed": False}}  # a later `srkd check` refused it
    write_manifest(failed, Manifest.parse(manifest, path=failed))
    assert isinstance(open_runner(failed), TorchRunner)


def test_failing_artifact_refuses_the_bundle(student, tmp_path, monkeypatch):
    real_export = ort_make.export_onnx

    def broken_export(model, path, **kw):
        info = real_export(model, path, **kw)
        perturb_onnx(path)
        return info

    monkeypatch.setattr(ort_make, "export_onnx", broken_export)
    with pytest.raises(ParityError, match=r"out[/\\]model.onnx: parity failed: onnxruntime:fp32: PSNR vs torch fp32 [\d.]+ dB"):
        export_bundle(student, tmp_path / "out", **FAST)
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its temp folder


def test_existing_target(student, bundle, tmp_path):
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        export_bundle(student, bundle.path, **FAST)
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "keep.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a bundle"):
        export_bundle(student, stranger, overwrite=True, **FAST)
    assert (stranger / "keep.png").exists()


def test_overwrite_replaces_a_bundle(tmp_path):
    first = make_student(tmp_path / "a.safetensors", seed=1)
    second = make_student(tmp_path / "b.safetensors", seed=2)
    export_bundle(first, tmp_path / "out", **FAST)
    replaced = export_bundle(second, tmp_path / "out", overwrite=True, **FAST)
    assert (replaced.path / "student.safetensors").read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors", "out"]


def test_foreign_checkpoint_is_stored_the_srkd_way(tmp_path):
    torch.manual_seed(0)
    torch.save({"params_ema": build_model("edsr", TINY).state_dict()}, tmp_path / "net.pth")
    made = export_bundle(tmp_path / "net.pth", tmp_path / "out", **FAST)
    assert made.manifest.model["provenance"] == {"source": "net.pth"}


def test_missing_student():
    with pytest.raises(CheckpointError, match="no/such.safetensors: neither a checkpoint file nor a shipped model"):
        export_bundle("no/such.safetensors", "unused", **FAST)


def test_changed_artifact_is_detected(bundle, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in bundle.path.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    perturb_onnx(copy / "model.onnx")
    with pytest.raises(CheckpointError, match=r"model.onnx: sha256 .* does not match manifest.json"):
        load_bundle(copy)
    # A bundle whose manifest vouches for the broken file: hashes pass, parity must not.
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["artifacts"][1]["sha256"] = sha256_file(copy / "model.onnx")
    write_manifest(copy, Manifest.parse(manifest, path=copy))
    checks = check_bundle(copy, images=2, crop=96, sizes=())
    assert [c.passed for c in checks] == [True, False] and checks[1].latency is None
    assert checks[1].parity.psnr_vs_ref < 60


def test_check_bundle_passes(bundle):
    checks = check_bundle(bundle.path, images=1, crop=64, sizes=(16,), runs=2)
    assert all(c.passed for c in checks) and checks[1].latency.sizes[0].size == 16
    json.dumps(checks[1].to_dict())


def test_not_a_bundle(tmp_path):
    with pytest.raises(CheckpointError, match="manifest.json: missing; not a bundle"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format_version": 99}')
    with pytest.raises(CheckpointError, match="format_version 99, expected 1"):
        load_bundle(tmp_path)


def test_dynamo_bundle(student, tmp_path):
    made = export_bundle(student, tmp_path / "out", dynamo=True, **FAST)
    assert made.find(backend="onnxruntime").toolchain["exporter"] == "dynamo"


def test_parity_on_set5(bundle, set5):
    checks = check_bundle(bundle.path, data=set5, images=5, crop=None, sizes=())
    assert all(c.passed for c in checks) and checks[0].parity.images == 5


def test_unknown_export_option_is_a_clear_error(tmp_path):
    from srkd.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option.*int9"):
        export_bundle("edsr-x4", tmp_path / "out", int9=True)
    assert not (tmp_path / "out").exists()


def test_a_ctrl_c_right_after_the_build_folder_is_made_leaves_nothing(student, tmp_path, monkeypatch):
    monkeypatch.setattr(target, "make_workdir", ctrl_c_after(target.make_workdir))
    res = CliRunner().invoke(main, ["export", str(student), "--out", str(tmp_path / "b"), "--images", "1", "--crop",
                                    "64", "--sizes", "16", "--runs", "1"])
    assert res.exit_code == 130, res.output
    assert "no bundle was written" in res.stderr and list(tmp_path.iterdir()) == []
