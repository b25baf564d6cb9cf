"""The signal matrix: real ``srkd upscale``, ``export`` and ``distill`` processes stopped by SIGINT and SIGTERM,
once or in bursts, at several moments, and by SIGKILL followed by a rerun.

Every interrupt ends the same way: exit code 130, one ``srkd: interrupted`` line (upscale: its report,
marked interrupted), no partial output, and a rerun that picks up where the stopped run left off. What
a SIGKILL leaves (srkd's own temp files and folders, nothing else) is removed by the next run, which
says so. Only processes started here are ever signalled. The scenarios of one command run side by
side, each waiting for a marker on disk (a first output, a half-built bundle, a first checkpoint)
rather than for a time, so a slow machine changes nothing but the duration.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import pytest
import torch

from click.testing import CliRunner

from srkd.cli import main
from srkd.data.io import read_image, write_image
from srkd.export.build import export_bundle
from srkd.models import build_model
from srkd.models.checkpoint import save_model

INT, TERM, KILL = signal.SIGINT, signal.SIGTERM, signal.SIGKILL
BURST = (INT, INT, TERM, INT, TERM)
DEAD_PID = 4_000_000  # above Linux's pid_max: certainly no running process


def start(args: list, *, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # background jobs (CI runners) inherit SIGINT ignored; give the child the default, as a terminal would
    return subprocess.Popen([sys.executable, "-m", "srkd", *map(str, args)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(proc: subprocess.Popen, marker, *, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not marker():
        assert proc.poll() is None, f"finished before the marker: {proc.communicate()}"
        assert time.monotonic() < deadline, "marker never appeared"
        time.sleep(0.02)


def stop(proc: subprocess.Popen, signals, *, gap: float = 0.03) -> tuple[int, str, str]:
    for sig in signals:
        if proc.poll() is None:
            proc.send_signal(sig)
        time.sleep(gap)
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


def interrupted_cleanly(code: int, err: str) -> None:
    assert code == 130, (code, err)
    assert "Traceback" not in err and "Aborted" not in err, err
    assert [line for line in err.splitlines() if line.startswith("srkd: interrupted")], err


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def _mapped(proc: subprocess.Popen, library: str) -> bool:
    """The process has loaded ``library`` (it is past Python's own start-up, in srkd's code)."""
    try:
        return library in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def side_by_side(*scenarios) -> None:
    with ThreadPoolExecutor(len(scenarios)) as pool:
        for future in [pool.submit(s) for s in scenarios]:
            future.result()


# ---------------------------------------------------------------- upscale

N = 12


@pytest.fixture(scope="module")
def pics(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("pics")
    torch.manual_seed(0)
    save_model(root / "slow-x2.safetensors", build_model("edsr", {"scale": 2, "n_feats": 32, "n_blocks": 8}))
    for i in range(N):
        y, x = (i * 37) % 352, (i * 53) % 352
        write_image(root / "in" / f"{i:02d}.png", photo[y: y + 128, x: x + 128])
    return root


def _upscale(pics: Path, out: Path) -> list:
    return ["upscale", pics / "in", "-m", pics / "slow-x2.safetensors", "-o", out, "--no-progress", "--tile", 0]


def _outputs_whole(out: Path) -> list[str]:
    names = sorted(p.name for p in out.glob("*.png"))
    for name in names:
        assert read_image(out / name).shape == (256, 256, 3) and cv2.imread(str(out / name)) is not None
    return names


def test_upscale_signals(pics, tmp_path):
    def at_start_up():  # while torch loads, before any file: nothing written, no report
        proc = start(_upscale(pics, tmp_path / "a"), cwd=tmp_path)
        wait_for(proc, lambda: _mapped(proc, "libtorch"))
        code, _, err = stop(proc, (INT, TERM))
        interrupted_cleanly(code, err)
        assert not (tmp_path / "a").exists()

    def burst_mid_batch(out: Path, signals):
        proc = start(_upscale(pics, out), cwd=tmp_path)
        wait_for(proc, lambda: any(out.glob("*.png")))
        code, stdout, err = stop(proc, signals)
        interrupted_cleanly(code, err)
        assert "interrupted (rerun the same command to resume)" in stdout and hidden(out) == []
        written = _outputs_whole(out)
        report = json.loads((out / "srkd-upscale-report.json").read_text())
        assert report["interrupted"] and report["exit_code"] == 130 and report["counts"]["ok"] == len(written) < N
        rerun = start(_upscale(pics, out), cwd=tmp_path)
        rout, rerr = rerun.communicate(timeout=240)
        assert rerun.returncode == 0, rerr
        assert f"{N - len(written)} upscaled, {len(written)} skipped" in rout and len(_outputs_whole(out)) == N

    def killed_then_rerun():
        out = tmp_path / "k"
        proc = start(_upscale(pics, out), cwd=tmp_path)
        wait_for(proc, lambda: any(out.glob("*.png")))
        code, _, _ = stop(proc, (KILL,))
        assert code == -KILL
        last = f"{N - 1:02d}_x2.png"
        left = out / f".{last}.{DEAD_PID}.abcd1234.png.tmp"  # what a kill in the middle of a write leaves
        left.write_bytes(b"half a png")
        mine = out / f".{last}.notes"  # not srkd's: never touched
        mine.write_text("keep")
        rerun = start(_upscale(pics, out), cwd=tmp_path)
        rout, rerr = rerun.communicate(timeout=240)
        assert rerun.returncode == 0, rerr
        assert "removed" in rout and left.name in rout and not left.exists() and mine.read_text() == "keep"
        assert hidden(out) == [mine.name] and len(_outputs_whole(out)) == N

    side_by_side(at_start_up, lambda: burst_mid_batch(tmp_path / "t", (TERM,)),
                 lambda: burst_mid_batch(tmp_path / "b", BURST), killed_then_rerun)


# ---------------------------------------------------------------- export

@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "s.safetensors"
    torch.manual_seed(0)
    save_model(path, build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}))
    return path


def _export(student: Path, out: str, *extra) -> list:
    return ["export", student, "--out", out, "--images", 1, "--crop", 64, "--sizes", 16, "--runs", 1, *extra]


def _partial(root: Path, name: str):
    return lambda: any(root.glob(f".{name}.*.partial"))


def test_export_signals(student, tmp_path):
    def during_build(name: str, signals, *extra):
        proc = start(_export(student, name, *extra), cwd=tmp_path)
        wait_for(proc, _partial(tmp_path, name))
        code, _, err = stop(proc, signals)
        interrupted_cleanly(code, err)
        assert not list(tmp_path.glob(f".{name}.*")), "a half-built bundle stayed"
        return err

    def single():
        err = during_build("a", (INT,))
        assert not (tmp_path / "a").exists() and "no bundle was written at a" in err

    def burst_over_an_existing_bundle():
        old = tmp_path / "o"
        export_bundle(student, old, images=1, crop=64, latency_sizes=(16,), latency_runs=1)  # here: no start-up
        before = {p.name: p.read_bytes() for p in old.iterdir()}
        err = during_build("o", BURST, "--overwrite")
        assert {p.name: p.read_bytes() for p in old.iterdir()} == before and "unchanged" in err

    def killed_then_rerun():
        proc = start(_export(student, "k"), cwd=tmp_path)
        wait_for(proc, _partial(tmp_path, "k"))
        assert stop(proc, (KILL,))[0] == -KILL
        left = list(tmp_path.glob(".k.*.partial"))
        assert left, "SIGKILL left no half-built bundle to clean"
        rerun = start(_export(student, "k"), cwd=tmp_path)
        _, rerr = rerun.communicate(timeout=240)
        assert rerun.returncode == 0, rerr
        assert "removed 1 unfinished folder" in rerr and left[0].name in rerr
        assert not list(tmp_path.glob(".k.*")) and (tmp_path / "k" / "manifest.json").is_file()

    side_by_side(single, burst_over_an_existing_bundle, killed_then_rerun)


# ---------------------------------------------------------------- distill

def _distill(data: Path, out: str, *extra) -> list:
    return ["distill", "--method", "scratch", "--student", "edsr:n_feats=8,n_blocks=2", "--data", data, "--scale", 2,
            "--batch", 2, "--patch", 16, "--steps", 5000, "--precision", "fp32", "--threads", 1, "--quiet",
            "--out", out, *extra]


@pytest.fixture(scope="module")
def hr(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("hr")
    for i in range(3):
        write_image(root / f"{i}.png", photo[i * 100: i * 100 + 96, 64:160])
    return root


def _step(run: Path) -> int:
    return int(torch.load(run / "resume.pt", weights_only=True)["step"])


def _resume(run: Path, cwd: Path) -> subprocess.CompletedProcess:
    proc = start(["distill", "--resume", run.name, "--steps", _step(run) + 2, "--quiet"], cwd=cwd)
    out, err = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_distill_signals(hr, tmp_path):
    def after_a_checkpoint(name: str, signals):
        run = tmp_path / name
        proc = start(_distill(hr, name, "--ckpt-every", 2), cwd=tmp_path)
        wait_for(proc, lambda: (run / "resume.pt").is_file())
        code, _, err = stop(proc, signals)
        interrupted_cleanly(code, err)
        assert f"srkd distill --resume {name}` continues the run" in err and hidden(run) == []
        done = _resume(run, tmp_path)
        assert done.returncode == 0, done.stderr

    def before_the_first_checkpoint():
        run = tmp_path / "early"
        proc = start(_distill(hr, "early", "--ckpt-every", 4000), cwd=tmp_path)
        wait_for(proc, lambda: (run / "config.yaml").is_file())
        code, _, err = stop(proc, BURST)
        interrupted_cleanly(code, err)
        assert "before its first checkpoint; nothing was kept" in err and not run.exists()

    def killed_then_rerun():
        run = tmp_path / "k"
        proc = start(_distill(hr, "k", "--ckpt-every", 2), cwd=tmp_path)
        wait_for(proc, lambda: (run / "resume.pt").is_file())
        assert stop(proc, (KILL,))[0] == -KILL
        left = run / f".resume.pt.{DEAD_PID}.abcd1234.pt.tmp"
        left.write_bytes(b"half a checkpoint")
        again = CliRunner().invoke(main, [str(a) for a in _distill(hr, str(run))])  # here: refused at once
        assert again.exit_code == 1 and f"--resume {run}" in again.stderr and "--overwrite" in again.stderr
        assert left.exists()
        done = _resume(run, tmp_path)
        assert done.returncode == 0, done.stderr
        assert not left.exists() and "removed 1 unfinished temp file" in done.stderr

    side_by_side(lambda: after_a_checkpoint("one", (INT,)), before_the_first_checkpoint, killed_then_rerun)
