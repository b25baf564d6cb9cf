"""Fuzz: bundle manifests (``srkd upscale -m BUNDLE``) and gate baselines (``srkd gate``), in this process.

A real bundle (a tiny student and its manifest) has its ``manifest.json`` mutated anywhere (values
replaced by other JSON, keys dropped or added); a real gate baseline likewise. Each run must end in
success, a per-file failure in the report (upscale, exit 3), or one line naming the file and what was
expected; a baseline that is not one must never let the gate pass.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from fuzzlib import budget, check, files_under, invoke, photo_png, tiny_student
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_checkpoints import JSON, mutated

from srkd.bundle.manifest import FORMAT_VERSION, ArtifactEntry, ExportRecord, Manifest, ParityData, write_manifest
from srkd.bundle.records import Latency, Parity
from srkd.fsutil import sha256_file
from srkd.models.checkpoint import read_metadata

KEY = "torch:fp32:student.safetensors"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle made by hand: the student, its manifest (one torch fp32 artifact, parity and latency)."""
    root = tmp_path_factory.mktemp("bundle") / "b"
    root.mkdir()
    tiny_student(root / "student.safetensors")
    model = read_metadata(root / "student.safetensors")
    student = root / "student.safetensors"
    entry = ArtifactEntry(
        file="student.safetensors", sha256=sha256_file(student), bytes=student.stat().st_size, backend="torch",
        precision="fp32", io={"input": {"name": "input"}, "output": {"name": "output"}},
        toolchain={"torch": torch.__version__},
        parity=Parity.from_dict({"images": 1, "psnr_vs_ref": None, "passed": True, "max_abs": 0.0, "nan_count": 0}),
        latency=Latency.from_dict({"cpu": "x", "gpu": None, "threads": 1,
                                   "sizes": [{"size": 16, "p50_ms": 1.0, "p95_ms": 1.2}]}))
    manifest = Manifest(format_version=FORMAT_VERSION, model=model, artifacts=(entry,),
                        parity_data=ParityData(source="test", images=("a",)), thresholds={"fp32": {"psnr_vs_ref": 60}},
                        export=ExportRecord(flags=()))
    write_manifest(root, manifest)
    return root


@budget(30)
@given(data=st.data())
def test_manifest(bundle, tmp_path_factory, data):
    work = tmp_path_factory.mktemp("m")
    shutil.copytree(bundle, work / "b")
    photo_png(work / "in.png", size=16)
    valid = json.loads((bundle / "manifest.json").read_text())
    new = data.draw(mutated(valid) | st.text(max_size=30).map(lambda t: ("raw", t)))
    text = new[1] if isinstance(new, tuple) else json.dumps(new)
    (work / "b" / "manifest.json").write_text(text)
    before = files_under(work)
    res = invoke(["upscale", "in.png", "-m", "b", "-o", "out", "--no-progress", "--tile", "0"], cwd=work)
    line = check(res, names=("manifest.json", "b:", "b/", "student.safetensors"), codes=(0, 1, 3),
                 other_stderr=__import__("re").compile(r"^failed: in\.png"))
    made = files_under(work) - before
    assert made == set() if line else made <= {"out", "out/in_x2.png", "out/srkd-upscale-report.json"}, made
    shutil.rmtree(work)


def _current(key: str = KEY) -> dict:
    """What ``measure_gate`` returns for the bundle (canned: the fuzz is about reading the baseline)."""
    art = {"file": "student.safetensors", "backend": "torch", "precision": "fp32", "passed": True,
           "psnr_vs_hr": 30.0, "psnr_vs_ref": None, "fp32_psnr_vs_hr": 30.0, "criterion": ">= 60 dB",
           "sizes": {"16": {"p50_ms": 1.0, "min_ms": 0.9, "reference_ms": 0.5, "ratio": 1.8}}}
    return {"format": "srkd-gate-baseline/1", "srkd_version": "0.1.0", "created": "2026-01-01T00:00:00+00:00",
            "model": {"arch": "edsr", "scale": 2, "hparams": {}},
            "settings": {"data": None, "images": 1, "crop": 64, "sizes": [16], "runs": 2, "threads": 1, "rounds": 2},
            "host": {"cpu": "x"}, "reference": {"workload": "w", "min_ms": {"torch": 0.5}}, "artifacts": {key: art}}


@pytest.fixture
def canned(monkeypatch):
    import srkd.export.gate as gate

    seen = {}

    def measure(bundle, **kw):
        seen.update(kw)
        return _current()

    monkeypatch.setattr(gate, "measure_gate", measure)
    return seen


@budget(40)
@given(data=st.data())
def test_gate_baseline(bundle, canned, tmp_path_factory, data):
    work = tmp_path_factory.mktemp("g")
    valid = _current()
    new = data.draw(mutated(valid) | JSON | st.text(max_size=30).map(lambda t: ("raw", t)))
    text = new[1] if isinstance(new, tuple) else json.dumps(new)
    (work / "base.json").write_text(text)
    strict = data.draw(st.booleans())
    before = files_under(work)
    res = invoke(["gate", bundle, "--baseline", "base.json", *(["--strict"] if strict else [])], cwd=work)
    line = check(res, names=("base.json", str(bundle)), codes=(0, 1))
    assert files_under(work) == before
    if res.code == 0:  # it passed: then the baseline really gated this bundle's artifact
        base = json.loads(text)
        assert base["format"] == "srkd-gate-baseline/1" and KEY in base["artifacts"], res.show()
        assert "gate passed" in res.stdout
    else:
        assert line is not None
    shutil.rmtree(work)
