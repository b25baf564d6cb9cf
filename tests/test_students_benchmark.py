"""benchmarks/students.py: trains, keeps the finished student folded in the repository-side folder, and a
machine without the run folders measures the kept students without training them again."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srkd.models import build_model
from srkd.models.checkpoint import load_model, save_model

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "students.py"


def _run(tmp: Path, shared: Path, teacher: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--teacher", str(teacher), "--data", str(shared / "data/train/T91"),
           "--bench", str(shared / "data/bench"), "--students", "span:feature_channels=4,n_blocks=1",
           "--steps", "4", "--batch", "2", "--patch", "16", "--precision", "fp32", "--threads", "1",
           "--ckpt-every", "2", "--size", "24", "--runs", "1", "--rounds", "1", "--out", str(tmp / "runs"),
           "--results", str(tmp / "results.jsonl"), "--measured", str(tmp / "measured.jsonl"), "--keep", str(tmp / "kept"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.slow
def test_kept_students_are_measured_on_a_new_machine(tmp_path, shared):
    torch.manual_seed(0)
    teacher = tmp_path / "teacher.safetensors"
    save_model(teacher, build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 1}))
    first = _run(tmp_path, shared, teacher)
    assert first.returncode == 0, first.stderr[-2000:]
    [record] = map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())
    kept = tmp_path / "kept" / f"{record['key']}.safetensors"
    model, _ = load_model(kept)
    assert model.hparams["branches"] is False, "kept folded"
    trained, _ = load_model(tmp_path / "runs" / record["key"] / "student_last.safetensors")
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(model(x), trained(x), atol=1e-5)

    kept.unlink()  # trained elsewhere (kd_methods.py from a pinned worktree): --keep-only keeps what finished
    again = _run(tmp_path, shared, teacher, "--keep-only")
    assert again.returncode == 0 and "span:feature_channels=4,n_blocks=1: kept" in again.stdout, again.stderr[-2000:]
    assert kept.is_file()

    shutil.rmtree(tmp_path / "runs")  # a new machine: no run folders, the kept copy and the results file remain
    second = _run(tmp_path, shared, teacher)
    assert second.returncode == 0, second.stderr[-2000:]
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1, "not trained again"
    assert not (tmp_path / "runs" / record["key"] / "resume.pt").exists()
    rows = [json.loads(line) for line in (tmp_path / "measured.jsonl").read_text().splitlines()]
    assert len(rows) == 2, "measured once per run of the script"
    assert rows[1]["set5_psnr"] == record["set5_psnr"] and rows[1]["p50_ms"], rows[1]
