"""fp16 training scales its gradients, and ``--precision auto`` ignores emulated bf16 (issue 16).

Both run on the CPU: fp16 autocast exists there too (and flushes small gradients to zero the way a
GPU's fp16 does), and the CUDA capability queries are monkeypatched where no GPU exists.
"""
from __future__ import annotations

import pytest
import torch

import srkd.distill.trainer as trainer_mod
from conftest import photo_run_folder
from srkd.distill.config import DistillConfig, load_config
from srkd.distill.precision import resolve_precision
from srkd.distill.trainer import Trainer

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_run_folder(tmp_path_factory.mktemp("photos"), teacher_hparams={"n_feats": 8, "n_blocks": 1})


class _TinyLoss(torch.nn.Module):
    """The method with its loss shrunk 10^4 times: its fp16 gradients underflow unless the loss is scaled."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch):
        parts = self.method(batch)
        return {**parts, "loss": parts["loss"] * 1e-4}


def _config(photos, out, **kw) -> DistillConfig:
    base = dict(student="edsr:n_feats=8,n_blocks=1", method="scratch", data=[str(photos / "hr")], scale=2, steps=4,
                batch=2, patch=16, precision="fp16", out=str(out), val_every=100, ckpt_every=2, log_every=1, threads=1,
                device="cpu")
    return DistillConfig(**{**base, **kw})


def test_fp16_gradients_survive_and_are_unscaled_before_clipping(photos, tmp_path, monkeypatch):
    trainer = Trainer(_config(photos, tmp_path / "run", grad_clip=1e9), progress=False)
    trainer.step_module = _TinyLoss(trainer.method)
    seen = {"clip": [], "step": []}
    clip = torch.nn.utils.clip_grad_norm_

    def spy_clip(params, max_norm):
        params = list(params)
        seen["clip"].append(float(torch.norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))))
        return clip(params, max_norm)

    monkeypatch.setattr(trainer_mod.torch.nn.utils, "clip_grad_norm_", spy_clip)

    def before_step(opt, args, kwargs):
        grads = [p.grad for p in trainer.student.parameters()]
        seen["step"].append((sum(int(g is None or not g.any()) for g in grads), len(grads),
                             float(torch.norm(torch.stack([g.norm() for g in grads if g is not None])))))

    trainer.opt.register_step_pre_hook(before_step)
    trainer.run(until=2)
    assert len(seen["step"]) == 2
    for zero, total, _ in seen["step"]:  # without loss scaling every one of them underflows
        assert zero == 0, f"{zero} of {total} student parameters got an all-zero fp16 gradient"
    for (_, _, norm), clip_norm in zip(seen["step"], seen["clip"], strict=True):
        assert clip_norm == pytest.approx(norm, rel=1e-4)  # clipping saw the unscaled gradients
        assert norm < 1.0  # and they are unscaled (x65536 they would be far larger)
    assert trainer.scaler.is_enabled() and trainer.scaler.get_scale() > 1
    saved = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)
    assert saved["scaler"]["scale"] == trainer.scaler.get_scale()


def test_fp16_resume_keeps_the_loss_scale(photos, tmp_path):
    first = Trainer(_config(photos, tmp_path / "run"), progress=False)
    first.scaler.load_state_dict({**first.scaler.state_dict(), "scale": 1024.0})  # as if overflows had lowered it
    first.run(until=2)
    scale = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["scaler"]["scale"]
    assert scale <= 1024.0
    resumed = Trainer(load_config(tmp_path / "run" / "config.yaml", overrides={}), resume=True, progress=False)
    assert resumed.scaler.get_scale() == scale and resumed.step == 2
    resumed.run()
    assert resumed.step == 4


def test_fp32_and_bf16_do_not_scale(photos, tmp_path):
    trainer = Trainer(_config(photos, tmp_path / "run", precision="fp32"), progress=False)
    assert not trainer.scaler.is_enabled()


def _fake_gpu(monkeypatch, *, native_bf16: bool) -> None:
    def is_bf16_supported(including_emulation: bool = True) -> bool:
        return True if including_emulation else native_bf16  # a pre-Ampere GPU: emulation only

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4" if not native_bf16 else "NVIDIA A100")


def test_auto_skips_emulated_bf16(monkeypatch):
    _fake_gpu(monkeypatch, native_bf16=False)
    prec = resolve_precision("auto", CUDA)
    assert prec.name == "fp32" and "Tesla T4 has no bf16 units" in prec.reason
    _fake_gpu(monkeypatch, native_bf16=True)
    prec = resolve_precision("auto", CUDA)
    assert prec.name == "bf16" and prec.channels_last and "NVIDIA A100 has bf16 units" in prec.reason
