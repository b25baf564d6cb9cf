"""Several processes (torchrun + gloo on CPU) and exact resume after SIGKILL, through real subprocesses."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from srkd.data.io import write_image
from srkd.distill.config import DistillConfig
from srkd.distill.methods import METHODS
from srkd.distill.trainer import Trainer
from srkd.errors import TrainingError
from srkd.models import build_model

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from skimage import data

    root = tmp_path_factory.mktemp("ddp_photos")
    for name in ("astronaut", "coffee", "chelsea"):
        write_image(root / f"{name}.png", getattr(data, name)()[:160, :160])
    return root


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
def test_two_processes_keep_identical_weights_and_sum_their_batches(photos, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(WORKER), str(photos), str(tmp_path), "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env())
    assert out.returncode == 0, out.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world"] == 2 and r0["effective_batch"] == 4
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), name
        assert torch.equal(r0["grads"][name], r1["grads"][name]), name
    assert not torch.equal(r0["batches"][0][0], r1["batches"][0][0])  # each rank cut its own patches
    # the DDP gradient of the last step equals one process's gradient on both ranks' batches together
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2})
    model.load_state_dict({**model.state_dict(), **_before_last_step(tmp_path)}, strict=True)
    method = METHODS.get("scratch")(student=model, teacher=None, args={})
    lr = torch.cat([r0["batches"][-1][0], r1["batches"][-1][0]])
    hr = torch.cat([r0["batches"][-1][1], r1["batches"][-1][1]])
    method({"lr": lr, "hr": hr})["loss"].backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, r0["grads"][name], rtol=1e-4, atol=1e-6)
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]  # rank 0 alone logs


@pytest.mark.slow
def test_two_processes_in_bf16_channels_last(photos, tmp_path):
    """bf16 + channels_last turns the (1, 3, 1, 1) mean buffers channels-last; DDP must still broadcast them."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(WORKER), str(photos), str(tmp_path), "2", "bf16"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env())
    assert out.returncode == 0, out.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), name


def _before_last_step(tmp_path):
    """The student weights before the final step: replay the run's first step in one process."""
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2})
    method = METHODS.get("scratch")(student=model, teacher=None, args={})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    lr = torch.cat([r0["batches"][0][0], r1["batches"][0][0]])
    hr = torch.cat([r0["batches"][0][1], r1["batches"][0][1]])
    method({"lr": lr, "hr": hr})["loss"].backward()
    opt.step()
    return {k: v.detach() for k, v in model.state_dict().items()}


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.mark.slow
def test_sigkill_and_resume_gives_the_same_loss_sequence(photos, tmp_path):
    args = ["--method", "scratch", "--student", "edsr:n_feats=8,n_blocks=2", "--data", str(photos), "--scale", "2",
            "--steps", "60", "--batch", "2", "--patch", "16", "--ckpt-every", "5", "--precision", "fp32",
            "--threads", "1", "--quiet", "--lr", "1e-3", "--log-every", "1"]
    srkd = [sys.executable, "-m", "srkd", "distill"]
    full = subprocess.run([*srkd, *args, "--out", str(tmp_path / "full")], capture_output=True, text=True, env=_env())
    assert full.returncode == 0, full.stderr
    run = tmp_path / "killed"
    proc = subprocess.Popen([*srkd, *args, "--out", str(run)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        steps = [r.get("step", 0) for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())] \
            if (run / "log.jsonl").exists() else []
        if steps and max(steps) >= 12:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = torch.load(run / "resume.pt", weights_only=True)["step"]
    assert 10 <= saved < 60 and saved % 5 == 0  # the last checkpoint before the kill
    # a kill can land mid-checkpoint: its temp file may stay, but every named file is whole (loaded above)
    assert {p.name for p in run.iterdir() if not p.name.startswith(".")} >= {"resume.pt", "log.jsonl", "config.yaml"}
    resumed = subprocess.run([*srkd, "--resume", str(run), "--quiet"], capture_output=True, text=True, env=_env())
    assert resumed.returncode == 0, resumed.stderr
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # the resume cleared any leftover temp file
    assert _losses(run) == _losses(tmp_path / "full")  # bit-identical on CPU in one process


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(photos, tmp_path):
    cfg = DistillConfig(student="edsr:n_feats=8,n_blocks=1", method="scratch", data=[str(photos)], scale=2, steps=10,
                        batch=2, patch=16, precision="fp32", out=str(tmp_path / "run"), threads=1, ckpt_every=2)
    trainer = Trainer(cfg, progress=False)
    forward = trainer.method.forward

    def poisoned(batch):
        parts = forward(batch)
        if trainer.step == 2:  # the third step
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    trainer.method.forward = poisoned
    with pytest.raises(TrainingError, match="not finite .* at step 3"):
        trainer.run()
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["step"] == 2
