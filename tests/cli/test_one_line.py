"""Issue 17's classes of bad input, each through the CLI: one ``srkd: error:`` line naming the file or field and
what was expected (exit 1), a usage error (exit 2), or the batch exit code 3; never a traceback, never a
warning or a library's print before the line, and nothing written by a refused command.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import onnx
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from srkd.cli import main
from srkd.data.io import write_image
from srkd.models import build_model
from srkd.models.checkpoint import read_metadata, save_model


def cli(*args, cwd: Path | None = None):
    """In this process; the result's stderr is what the user sees."""
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def raw(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A real process with Python's warnings left on, as a user's shell has them."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run([sys.executable, "-m", "srkd", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def one_line(res, *needles, code: int = 1) -> str:
    code_, err = (res.exit_code, res.stderr) if hasattr(res, "exit_code") else (res.returncode, res.stderr)
    assert getattr(res, "exception", None) is None or isinstance(res.exception, SystemExit), res.exception
    assert code_ == code, (code_, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("srkd: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("s") / "good.safetensors"
    torch.manual_seed(0)
    save_model(path, build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 1}))
    return path


@pytest.fixture(scope="module")
def pics(tmp_path_factory, photo) -> Path:
    root = tmp_path_factory.mktemp("pics")
    write_image(root / "in" / "a.png", photo[:24, :24])
    write_image(root / "in" / "b.png", photo[24:48, :24])
    return root / "in"


def _with_meta(student: Path, path: Path, meta) -> Path:
    from safetensors.torch import load_file

    save_file(load_file(str(student)), str(path), metadata={"srkd": meta if isinstance(meta, str) else json.dumps(meta)})
    return path


# 2, 3: checkpoint metadata --------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (lambda m: [1, 2], "JSON object"),
    (lambda m: {**m, "hparams": "abc"}, "'hparams' must be an object"),
    (lambda m: {**m, "hparams": {**m["hparams"], "n_feats": "x"}}, "'n_feats' must be an integer"),
    (lambda m: {**m, "hparams": {**m["hparams"], "n_feats": -3}}, "'n_feats' must be an integer"),
    (lambda m: {k: v for k, v in m.items() if k != "scale"}, "lacks 'scale'"),
    (lambda m: {**m, "scale": "2"}, "'scale' must be an integer"),
    (lambda m: {**m, "hparams": {**m["hparams"], "n_blocks": 100_000}}, "'n_blocks' must be an integer 1..4096"),
    (lambda m: "{not json", "does not hold JSON"),
])
def test_malformed_safetensors_metadata(student, tmp_path, change, field):
    path = _with_meta(student, tmp_path / "m.safetensors", change(read_metadata(student)))
    one_line(cli("inspect", path), "m.safetensors", field)


def test_a_header_cannot_exhaust_memory(student, tmp_path):
    """n_blocks=4000 is within the bounds: the build on the meta device stops at the file's tensor budget."""
    import resource
    import time

    meta = read_metadata(student)
    path = _with_meta(student, tmp_path / "m.safetensors", {**meta, "hparams": {**meta["hparams"], "n_blocks": 4000,
                                                                                 "n_feats": 4096}})
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    line = one_line(cli("inspect", path), "m.safetensors", "do not fit", "before allocating anything")
    assert time.perf_counter() - start < 20 and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000, line


def test_malformed_onnx_metadata(student, tmp_path, pics):
    import torch.onnx

    model = torch.nn.Conv2d(3, 3, 1)
    torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(tmp_path / "m.onnx"), dynamo=False)
    for meta, needle in (([1], "JSON object"), ("x", "does not hold JSON"), ({"arch": "edsr"}, "lacks 'hparams'")):
        proto = onnx.load(str(tmp_path / "m.onnx"))
        onnx.helper.set_model_props(proto, {"srkd": meta if isinstance(meta, str) else json.dumps(meta)})
        onnx.save(proto, str(tmp_path / "m.onnx"))
        one_line(cli("upscale", pics / "a.png", "-m", tmp_path / "m.onnx", "-o", tmp_path / "o.png"), "m.onnx", needle)
        assert not (tmp_path / "o.png").exists()


# 9: what a file is, said plainly, and nothing printed before the line ---------------------------------

class _Code:
    def __reduce__(self):
        return (print, ("this must never print",))


def test_pickled_code_refused_in_plain_words(tmp_path):
    torch.save({"params": _Code()}, tmp_path / "evil.pth")
    res = raw("inspect", tmp_path / "evil.pth")
    line = one_line(res, "evil.pth", "this file contains pickled code", "srkd loads weights only")
    assert "this must never print" not in res.stdout + res.stderr and len(line) < 300


def test_raw_pickle_gives_no_warning_before_the_line(tmp_path):
    with open(tmp_path / "plain.pth", "wb") as fh:
        pickle.dump({"w": [1.0, 2.0]}, fh, protocol=4)
    one_line(raw("inspect", tmp_path / "plain.pth"), "plain.pth", "not a PyTorch checkpoint srkd can read")


@pytest.mark.parametrize("command", ["eval", "inspect", "export"])
def test_onnx_given_where_weights_are_needed(tmp_path, command):
    torch.onnx.export(torch.nn.Conv2d(3, 3, 1), (torch.zeros(1, 3, 8, 8),), str(tmp_path / "m.onnx"), dynamo=False)
    args = {"eval": ["--data", tmp_path, "--scale", 2], "inspect": [], "export": ["--out", tmp_path / "b"]}[command]
    one_line(cli(command, tmp_path / "m.onnx", *args), "m.onnx", "an ONNX file", "srkd upscale -m")
    assert not (tmp_path / "b").exists()


def _png_header(width: int, height: int) -> bytes:
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("size, needle", [((30_000, 30_000), "over the limit"), ((100_000, 100_000), "over the limit"),
                                          ((2_000_000, 1), "not a readable image"), ((24, 24), "not a readable image")])
def test_decompression_bombs_and_damaged_pngs_in_eval(tmp_path, size, needle):
    (tmp_path / "HR").mkdir()
    (tmp_path / "HR" / "big.png").write_bytes(_png_header(*size))
    one_line(raw("eval", "bicubic", "--data", tmp_path, "--scale", 2), "big.png", needle)


def test_a_newline_in_a_file_name(tmp_path, student, photo):
    (tmp_path / "HR").mkdir()
    (tmp_path / "HR" / "bad\nname.png").write_bytes(b"not an image")
    one_line(cli("eval", "bicubic", "--data", tmp_path, "--scale", 2), "bad\\nname.png", "not a readable image")
    write_image(tmp_path / "HR" / "ok\nfine.png", photo[:24, :24])
    res = cli("upscale", tmp_path / "HR", "-m", student, "-o", tmp_path / "out", "--no-progress")
    assert res.exit_code == 3, res.stderr
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    failed = [f for f in report["files"] if f["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["message"].endswith("not an image (unrecognised format)")
    assert [line for line in res.stderr.splitlines() if line.strip()] == [f"failed: {failed[0]['message']}"]


# 3, 4, 10: upscale's outputs, report and options ------------------------------------------------------

def test_upscale_output_that_cannot_be(student, pics, tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    one_line(cli("upscale", pics, "-m", student, "-o", tmp_path / "file.png"), "file.png", "not a folder")
    one_line(cli("upscale", pics, "-m", student, "-o", tmp_path / "file.png" / "sub"), "file.png is a file, not a folder")
    one_line(cli("upscale", pics, "-m", student, "-o", tmp_path / "o", "--report", tmp_path / "file.png" / "r.json"),
             "file.png is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_upscale_and_export_into_a_read_only_folder(student, pics, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    one_line(cli("upscale", pics, "-m", student, "-o", ro / "out"), "ro", "not writable")
    one_line(cli("export", student, "--out", ro / "b"), "ro", "not writable")


def test_export_output_that_cannot_be(student, tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    one_line(cli("export", student, "--out", tmp_path / "file" / "b"), "file is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_upscale_report_that_cannot_be_written_keeps_exit_3(student, pics, tmp_path, monkeypatch):
    import srkd.serve.remote as remote

    def full_disk(report, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(remote, "write_report", full_disk)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.png").write_bytes(b"garbage")
    res = cli("upscale", tmp_path / "in", "-m", student, "-o", tmp_path / "out", "--no-progress")
    assert res.exit_code == 3, res.stderr
    assert "srkd: error: cannot write the report to" in res.stderr and "No space left on device" in res.stderr
    res = cli("upscale", pics, "-m", student, "-o", tmp_path / "out2", "--no-progress")  # nothing failed
    assert res.exit_code == 1 and "cannot write the report" in res.stderr


def test_shard_errors_are_usage_errors(student, pics):
    for shard in ("3/2", "x", "1/0", "-1/2"):
        res = cli("upscale", pics, "-m", student, "--shard", shard, "--dry-run")
        assert res.exit_code == 2 and "Invalid value for '--shard'" in res.stderr and shard in res.stderr


def test_dangling_and_looping_symlinks_are_reported_as_skipped(student, pics, tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (root / "sub" / name).write_bytes((pics / name).read_bytes())
    (root / "sub" / "gone.png").symlink_to("nowhere.png")
    (root / "sub" / "l1.png").symlink_to("l2.png")
    (root / "sub" / "l2.png").symlink_to("l1.png")
    res = cli("upscale", root, "-r", "-m", student, "-o", tmp_path / "out", "--no-progress")
    assert res.exit_code == 0, res.stderr
    report = json.loads((tmp_path / "out" / "srkd-upscale-report.json").read_text())
    skipped = {Path(f["src"]).name: f["message"] for f in report["files"] if f["outcome"] == "skipped"}
    assert "dangling symlink" in skipped["gone.png"] and "nowhere.png" in skipped["gone.png"]
    assert "symlink loop" in skipped["l1.png"] and "symlink loop" in skipped["l2.png"]
    assert report["counts"] == {"ok": 2, "skipped": 3, "failed": 0} and "gone.png: dangling symlink" in res.stdout


# 3, 5: gate baselines ---------------------------------------------------------------------------------

@pytest.fixture
def canned_gate(monkeypatch):
    import srkd.export.gate as gate

    art = {"file": "student.safetensors", "backend": "torch", "precision": "fp32", "passed": True, "psnr_vs_hr": 30.0,
           "fp32_psnr_vs_hr": 30.0, "criterion": "", "sizes": {"16": {"p50_ms": 1, "min_ms": 1, "reference_ms": 1,
                                                                         "ratio": 1.0}}}
    current = {"format": "srkd-gate-baseline/1", "settings": {}, "reference": {"workload": "w", "min_ms": {"torch": 1}},
               "artifacts": {"torch:fp32:student.safetensors": art, "onnxruntime:fp32:model.onnx": {**art, "file": "model.onnx"}},
               "skipped": {}}  # what measure_gate returns: artifacts that cannot run here, with the reason
    monkeypatch.setattr(gate, "measure_gate", lambda bundle, **kw: current)
    return current


@pytest.mark.parametrize("text, needle", [("not json", "not a readable JSON baseline"), ("[1, 2]", "not an srkd gate baseline"),
                                          ("{}", "not an srkd gate baseline"),
                                          ('{"format": "srkd-gate-baseline/1", "artifacts": {}}', "artifacts must be")])
def test_gate_refuses_what_is_not_a_baseline(canned_gate, tmp_path, text, needle):
    (tmp_path / "base.json").write_text(text)
    one_line(cli("gate", tmp_path, "--baseline", tmp_path / "base.json"), "base.json", needle)


def test_gate_reports_new_artifacts_and_strict_fails_them(canned_gate, tmp_path):
    base = json.loads(json.dumps(canned_gate))
    del base["artifacts"]["onnxruntime:fp32:model.onnx"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    res = cli("gate", tmp_path, "--baseline", tmp_path / "base.json")
    assert res.exit_code == 0 and "new, not gated: onnxruntime:fp32:model.onnx" in res.stdout, res.output
    one_line(cli("gate", tmp_path, "--baseline", tmp_path / "base.json", "--strict"), "onnxruntime:fp32:model.onnx",
             "not in the baseline", "--strict")
