"""``--precision auto``: bf16 on a CPU only when the student's own step measures faster; kept on resume."""
from __future__ import annotations

import json

import pytest
import torch

import srkd.distill.precision as prec_mod
import srkd.distill.setup as setup_mod
from conftest import photo_run_folder
from srkd.distill.config import DistillConfig, load_config
from srkd.distill.precision import MIN_CPU_SPEEDUP, measure_cpu_speedup, resolve_precision
from srkd.distill.trainer import Trainer
from srkd.models import build_model

CPU = torch.device("cpu")


def test_measured_speedup_is_real_and_touches_nothing():
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    speedup = measure_cpu_speedup(model, batch=2, patch=16, runs=1)
    assert 0 < speedup < 100
    assert torch.equal(torch.get_rng_state(), rng)  # resume stays exact: no global RNG draws
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.is_contiguous() for p in model.parameters())  # the copy went channels_last, not the model


def test_auto_follows_the_measurement(monkeypatch):
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    fast = resolve_precision("auto", CPU, measure=lambda: 2.5)
    assert fast.name == "bf16" and fast.channels_last and "measured 2.50x" in fast.reason
    slow = resolve_precision("auto", CPU, measure=lambda: 1.02)
    assert slow.name == "fp32" and f"< {MIN_CPU_SPEEDUP}x" in slow.reason
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset())  # no bf16 units: nothing to measure

    def never() -> float:
        raise AssertionError("measured without bf16 units")

    assert resolve_precision("auto", CPU, measure=never).name == "fp32"
    assert resolve_precision("bf16", CPU, measure=never).name == "bf16"  # asked for: no measurement


def test_explicit_bf16_on_a_cpu_without_bf16_units_is_flagged_as_emulated(monkeypatch):
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx2", "fma", "f16c"}))
    emulated = resolve_precision("bf16", CPU)
    assert emulated.name == "bf16" and emulated.emulated and "emulated" in emulated.reason
    assert resolve_precision("auto", CPU).name == "fp32"
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert not resolve_precision("bf16", CPU).emulated
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset())  # flags unknown (not x86 Linux): no claim
    assert not resolve_precision("bf16", CPU).emulated


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_run_folder(tmp_path_factory.mktemp("photos"), teacher_hparams={"n_feats": 8, "n_blocks": 1})


def test_trainer_records_the_choice_and_keeps_it_on_resume(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(setup_mod, "measure_cpu_speedup", lambda model, **kw: 3.0)
    cfg = DistillConfig(student="edsr:n_feats=8,n_blocks=1", method="scratch", data=[str(photos / "hr")], scale=2,
                        steps=4, batch=2, patch=16, precision="auto", out=str(tmp_path / "run"), val_every=100,
                        ckpt_every=2, log_every=1, threads=1)
    first = Trainer(cfg, progress=False)
    assert first.prec.name == "bf16" and "measured 3.00x" in first.prec.reason
    first.run(until=2)
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["precision"] == "bf16"
    monkeypatch.setattr(setup_mod, "measure_cpu_speedup", lambda model, **kw: 1.0)  # would now pick fp32
    resumed = Trainer(load_config(tmp_path / "run" / "config.yaml", overrides={}), resume=True, progress=False)
    assert resumed.prec.name == "bf16" and "kept on resume" in resumed.prec.reason
    resumed.run()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["precision"] == "bf16" and "kept on resume" in summary["precision_reason"]


def test_trainer_warns_when_asked_for_emulated_bf16(photos, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(prec_mod, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    cfg = DistillConfig(student="edsr:n_feats=8,n_blocks=1", method="scratch", data=[str(photos / "hr")], scale=2,
                        steps=1, batch=2, patch=16, precision="bf16", out=str(tmp_path / "run"), val_every=100,
                        log_every=1, threads=1)
    with caplog.at_level("INFO", logger="srkd.distill.trainer"):
        trainer = Trainer(cfg, progress=False)
    trainer.close()
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "emulated" in r.getMessage()]
    assert trainer.prec.emulated and len(warned) == 1
