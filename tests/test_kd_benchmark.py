"""benchmarks/kd_methods.py survives a kill: finished runs are skipped, the killed one resumes exactly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import srkd.distill.precision as prec_mod
from srkd.models import build_model
from srkd.models.checkpoint import save_model

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "kd_methods.py"
SCORES = ("set5_psnr", "set14_psnr", "set5_ssim", "set14_ssim")


def _bench(tmp: Path, shared: Path, name: str, teacher: Path) -> list[str]:
    return [sys.executable, str(SCRIPT), "--teacher", str(teacher), "--data", str(shared / "data/train/T91"),
            "--bench", str(shared / "data/bench"), "--student", "edsr:n_feats=4,n_blocks=1", "--methods", "scratch",
            "kd", "--seeds", "0", "--steps", "60", "--batch", "2", "--patch", "16", "--precision", "fp32",
            "--threads", "1", "--ckpt-every", "5", "--out", str(tmp / name), "--results", str(tmp / f"{name}.jsonl")]


def _records(path: Path) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.slow
def test_a_killed_benchmark_resumes_to_the_same_table(tmp_path, shared):
    torch.manual_seed(0)
    teacher = tmp_path / "teacher.safetensors"
    save_model(teacher, build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 1}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    whole = subprocess.run(_bench(tmp_path, shared, "whole", teacher), capture_output=True, text=True, env=env)
    assert whole.returncode == 0, whole.stderr
    reference = _records(tmp_path / "whole.jsonl")
    assert len(reference) == 2
    assert all(r["cpu"] and r["cpu_bf16"] for r in reference.values())  # which machine's arithmetic

    # the same benchmark, killed (SIGKILL) once the second run has written its first checkpoint
    proc = subprocess.Popen(_bench(tmp_path, shared, "killed", teacher), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    second = tmp_path / "killed" / next(k for k in reference if k.startswith("kd-")) / "resume.pt"
    deadline = time.monotonic() + 300
    while not second.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _records(tmp_path / "killed.jsonl")
    assert list(partial) == [k for k in reference if k.startswith("scratch-")], "only the first run was recorded"
    assert second.is_file() and not (second.parent / "summary.json").exists(), "killed mid-run"

    # a run started by other code is not resumed by this code
    stamp = second.parent / "bench_run.json"
    own = stamp.read_text()
    stamp.write_text(json.dumps({"commit": "0123456789ab"}))
    other = subprocess.run(_bench(tmp_path, shared, "killed", teacher), capture_output=True, text=True, env=env)
    assert other.returncode == 0 and "started at commit 0123456789ab" in other.stdout and "(skipped)" in other.stdout
    assert len(_records(tmp_path / "killed.jsonl")) == 1
    stamp.write_text(own)

    again = subprocess.run(_bench(tmp_path, shared, "killed", teacher), capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert "2 runs, 1 already recorded" in again.stdout
    assert "resuming at step" in again.stdout and "starting at step" not in again.stdout
    resumed = _records(tmp_path / "killed.jsonl")
    assert len((tmp_path / "killed.jsonl").read_text().splitlines()) == 2  # the finished run was not redone
    for key, ref in reference.items():
        assert {s: resumed[key][s] for s in SCORES} == {s: ref[s] for s in SCORES}, key

    # --report reads the results file alone and prints the same scores as the uninterrupted run
    reports = [subprocess.run([sys.executable, str(SCRIPT), "--report", "--results", str(tmp_path / f"{n}.jsonl")],
                              capture_output=True, text=True, env=env, check=True).stdout for n in ("whole", "killed")]
    strip = lambda text: [line.rsplit("|", 2)[0] for line in text.splitlines()]  # drop the s/step column
    assert strip(reports[0]) == strip(reports[1])
    assert "| kd | 0 |" in reports[0] and "| scratch | 0 |" in reports[0]


def test_bf16_runs_are_refused_where_bf16_is_emulated(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import kd_methods

    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    refusal = kd_methods.emulated_refusal("bf16", allowed=False)
    assert refusal and "emulated" in refusal and "--allow-emulated" in refusal
    assert kd_methods.emulated_refusal("bf16", allowed=True) is None
    assert kd_methods.emulated_refusal("fp32", allowed=False) is None
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert kd_methods.emulated_refusal("bf16", allowed=False) is None


def test_the_report_gives_each_method_its_gap_to_kd_over_the_same_seeds(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import kd_methods

    def row(spec: str, seed: int, set5: float, set14: float) -> dict:
        return {"key": f"{spec}-{seed}", "spec": spec, "seed": seed, "set5_psnr": set5, "set14_psnr": set14,
                "set5_ssim": 0.8, "set14_ssim": 0.7, "teacher_name": "T", "student": "S", "steps": 10, "batch": 2,
                "patch": 16, "precision": "fp32", "sec_per_step": 0.1}

    rows = [row("kd", 0, 30.0, 27.0), row("kd", 1, 30.2, 27.4), row("augkd", 0, 30.1, 26.9),
            row("augkd:n_zoom_in=0", 1, 30.25, 27.3), row("mipkd", 2, 31.0, 28.0)]
    lines = {line.split(" | ")[0].lstrip("| "): line for line in kd_methods.report(rows).splitlines()}
    assert "| +0.100 / -0.100 |" in lines["augkd"]          # against kd's seed 0 only
    assert "| +0.050 / -0.100 |" in lines["augkd:n_zoom_in=0"]  # against kd's seed 1 only
    assert "| - |" in lines["mipkd"] and "| - |" in lines["kd"]  # no kd run at seed 2; kd itself
