"""A backend added in one place: a toy numpy runtime registered by this test alone goes end to end.

The toy backend runs ``model.toy.onnx`` (a copy of ``model.onnx``) with ONNX's numpy reference
evaluator. Declaring it and registering it is all it takes for ``srkd export --with toy`` to make and
record it, ``srkd check`` to parity-check it and ``srkd upscale --backend toy`` to run it.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import srkd
from srkd.backends import BACKENDS, register
from srkd.backends.onnxruntime import ONNX_FILE
from srkd.backends.runner import Runner
from srkd.backends.spec import YES, ArtifactSpec, Backend, OpenRequest, cannot
from srkd.cli import main
from srkd.data.io import read_image, write_image
from srkd.export.context import Made
from srkd.models import build_model
from srkd.models.checkpoint import save_model

TOY_FILE = "model.toy.onnx"
FAST = ["--images", "2", "--crop", "64", "--sizes", "16", "--runs", "2"]


class NumpyRunner(Runner):
    """An ONNX graph run by ``onnx.reference.ReferenceEvaluator`` (pure numpy)."""

    backend = "toy"

    def __init__(self, path, *, spec) -> None:
        super().__init__(spec=spec, precision="fp32")
        self.path, self.evaluator = path, None

    def activate_impl(self) -> None:
        from onnx.reference import ReferenceEvaluator

        self.evaluator = ReferenceEvaluator(str(self.path))

    def deactivate_impl(self) -> None:
        self.evaluator = None

    def runs_in(self) -> str:
        return "fp32 (numpy reference evaluator)"

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.evaluator.run(None, {"lr": batch})[0]


def _make(ctx) -> Made:
    shutil.copyfile(ctx.path(ONNX_FILE), ctx.path(TOY_FILE))
    return Made(open=lambda: NumpyRunner(ctx.path(TOY_FILE), spec=ctx.spec), io=ctx.made[ONNX_FILE].io,
                other={"toy": {"evaluator": "onnx.reference"}})


def _open(request: OpenRequest) -> NumpyRunner:
    return NumpyRunner(request.path, spec=request.spec)


TOY = Backend(
    name="toy", about="ONNX's numpy reference evaluator (a test plug-in)",
    artifacts=(ArtifactSpec(precision="fp32", file=TOY_FILE, source=ONNX_FILE, make=_make),),
    can_run=lambda device, precision: YES if device.type == "cpu" else cannot("the toy runs on the CPU"),
    open=_open, auto_rank=9,
)


@pytest.fixture()
def toy():
    register(TOY)
    try:
        yield TOY
    finally:
        BACKENDS.remove("toy")


@pytest.fixture()
def student(tmp_path):
    torch.manual_seed(0)
    save_model(tmp_path / "student.safetensors", build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1}))
    return tmp_path / "student.safetensors"


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_a_registered_backend_goes_end_to_end(toy, student, tmp_path, photo):
    bundle = tmp_path / "bundle"
    out = _invoke("export", student, "--out", bundle, "--with", "toy", *FAST)
    assert "toy:fp32 runs in fp32 (numpy reference evaluator)" in out and TOY_FILE in out
    manifest = json.loads((bundle / "manifest.json").read_text())
    [entry] = [a for a in manifest["artifacts"] if a["backend"] == "toy"]
    assert entry["file"] == TOY_FILE and (bundle / TOY_FILE).is_file() and entry["precision"] == "fp32"
    parity = entry["parity"]
    assert parity["passed"] and (parity["psnr_vs_ref"] is None or parity["psnr_vs_ref"] >= 60)
    assert entry["latency"]["sizes"][0]["size"] == 16 and entry["toy"] == {"evaluator": "onnx.reference"}
    assert manifest["export"]["flags"][-1] == "--with toy"

    out = _invoke("check", bundle, *FAST)
    assert "toy:fp32" in out and f"all {len(manifest['artifacts'])} artifacts pass" in out
    rechecked = json.loads((bundle / "manifest.json").read_text())
    [entry] = [a for a in rechecked["artifacts"] if a["backend"] == "toy"]
    assert entry["check"]["parity"]["passed"] and entry["toy"] == {"evaluator": "onnx.reference"}

    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "p.png", photo[200:240, 220:268])
    out = _invoke("upscale", tmp_path / "in", "-m", bundle, "--backend", "toy", "-o", tmp_path / "out", "--no-progress")
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    assert report["runner"] == "toy:fp32" and report["counts"]["ok"] == 1
    with srkd.load(bundle, backend="torch", precision="fp32", tile=0) as reference:
        expected = reference.upscale(photo[200:240, 220:268])
    got = read_image(tmp_path / "out" / "p_x2.png")
    assert got.shape == expected.shape == (80, 96, 3) and np.abs(got.astype(int) - expected).max() <= 1


def test_without_its_line_the_backend_does_not_exist(student, tmp_path):
    result = CliRunner().invoke(main, ["export", str(student), "--out", str(tmp_path / "b"), "--with", "toy"])
    assert result.exit_code == 2 and "toy" in result.output and "torch" in result.output
