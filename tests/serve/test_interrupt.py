"""Ctrl-C (and a scheduler's SIGTERM) on a real ``srkd upscale`` process: a clean stop, no partial files, resumable."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch
from conftest import run_srkd

from srkd.data.io import read_image, write_image
from srkd.models import build_model
from srkd.models.checkpoint import save_model

N = 40


@pytest.fixture(scope="module")
def job(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("interrupt")
    torch.manual_seed(0)
    save_model(root / "slow-x2.safetensors", build_model("edsr", {"scale": 2, "n_feats": 32, "n_blocks": 8}))
    for i in range(N):  # real photo crops, slow enough per image that the run is still going when we signal it
        y, x = (i * 37) % 352, (i * 53) % 352
        write_image(root / "pics" / f"{i:02d}.png", photo[y: y + 160, x: x + 160])
    return root


def all_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_rerun_resumes(job, tmp_path, sig):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "srkd", "upscale", str(job / "pics"), "-m", str(job / "slow-x2.safetensors"),
           "-o", str(out), "--no-progress", "--name", "{name}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # a shell's background job (nohup ... &, CI runners) inherits SIGINT ignored, and Python then keeps
    # ignoring it; give the child the default disposition, as an interactive terminal would
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".png" for p in out.glob("*.png")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "interrupted" in stdout
    written = [n for n in all_files(out) if n.endswith(".png")]
    assert 1 <= len(written) < N
    assert all_files(out) == sorted(written + ["srkd-upscale-report.json"])  # no temp files
    for name in written:  # every file there is complete
        assert read_image(out / name).shape == (320, 320, 3)
        assert cv2.imread(str(out / name)) is not None
    report = json.loads((out / "srkd-upscale-report.json").read_text())
    assert report["interrupted"] and report["exit_code"] == 130 and report["counts"]["ok"] == len(written)

    rerun = run_srkd("upscale", job / "pics", "-m", job / "slow-x2.safetensors", "-o", out, "--no-progress",
                     "--name", "{name}", "--tile", 0)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N - len(written)} upscaled, {len(written)} skipped" in rerun.stdout
    assert len([n for n in all_files(out) if n.endswith(".png")]) == N
