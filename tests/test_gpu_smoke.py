"""benchmarks/gpu_smoke.py reports honestly: without a GPU nothing but the doctor passes, every GPU
part is SKIPPED with its reason, and the --self-check part shows the report can fail."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO


def _smoke(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_smoke.py"), "--json", str(tmp_path / "s.json"),
                          *args], capture_output=True, text=True, timeout=900)
    return out, json.loads((tmp_path / "s.json").read_text())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the report of a machine without CUDA")
def test_without_a_gpu_nothing_gpu_passes(tmp_path):
    out, report = _smoke(tmp_path, "--self-check")
    assert out.returncode == 1, out.stdout + out.stderr  # the self-check part failed, so the report fails
    status = {p["part"]: p for p in report["parts"]}
    assert status["doctor"]["status"] == "PASS" and status["self-check"]["status"] == "FAIL"
    gpu_parts = [p for name, p in status.items() if name not in ("doctor", "self-check")]
    assert len(gpu_parts) == 9 and all(p["status"] == "SKIPPED" for p in gpu_parts)
    assert all("no CUDA GPU" in p["detail"] for p in gpu_parts)
    assert "1 passed, 1 failed, 9 skipped" in out.stdout and "not a pass" in out.stdout
    strict, _ = _smoke(tmp_path, "--strict")
    assert strict.returncode == 1  # with --strict a skipped part fails the run too


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_smoke_on_a_gpu(tmp_path):
    out, report = _smoke(tmp_path)
    failed = [p for p in report["parts"] if p["status"] == "FAIL"]
    assert out.returncode == 0 and not failed, json.dumps(failed, indent=1)
