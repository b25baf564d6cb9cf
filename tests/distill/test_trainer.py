import json

import pytest
import torch

from conftest import photo_run_folder, run_srkd
from srkd.distill.config import DistillConfig, load_config
from srkd.distill.methods import METHODS
from srkd.distill.teacher import FrozenTeacher
from srkd.distill.trainer import Trainer
from srkd.errors import ConfigError, TrainingError
from srkd.models import build_model
from srkd.models.checkpoint import load_model


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A training folder of real photos (scikit-image's), and a tiny teacher checkpoint."""
    return photo_run_folder(tmp_path_factory.mktemp("photos"), teacher_hparams={"n_feats": 8, "n_blocks": 1})


def _cfg(photos, out, **kw):
    base = dict(student="edsr:n_feats=8,n_blocks=2", method="scratch", data=[str(photos / "hr")], scale=2,
                steps=6, batch=2, patch=16, precision="fp32", out=str(out), val_every=100, ckpt_every=3, log_every=1,
                threads=1)
    base.update(kw)
    return DistillConfig(**base)


def test_kd_loss_composition():
    torch.manual_seed(0)
    student = build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 1})
    teacher = FrozenTeacher(build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 1}))
    method = METHODS.get("kd")(student=student, teacher=teacher, args={"lambda_pix": 0.3, "lambda_kd": 2.0})
    batch = {"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 16, 16)}
    parts = method(batch)
    sr = student(batch["lr"])
    pix = (sr - batch["hr"]).abs().mean()
    kd = (sr - teacher(batch["lr"])).abs().mean()
    torch.testing.assert_close(parts["pix"], pix)
    torch.testing.assert_close(parts["kd"], kd)
    torch.testing.assert_close(parts["loss"], 0.3 * pix + 2.0 * kd)
    parts["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    with pytest.raises(ConfigError, match="unknown option.*lambda_kdd"):
        METHODS.get("kd")(student=student, teacher=teacher, args={"lambda_kdd": 1})


def test_few_steps_reduce_the_loss_on_real_patches(photos, tmp_path):
    result = Trainer(_cfg(photos, tmp_path / "run", steps=40, lr=1e-3, log_every=10, ckpt_every=40), progress=False).run()
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert result.steps == 40 and losses[-1] < 0.7 * losses[0]
    for name in ("config.yaml", "log.jsonl", "curves.png", "student_best.safetensors", "student_last.safetensors",
                 "resume.pt", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    model, spec = load_model(tmp_path / "run" / "student_last.safetensors")
    assert spec.hparams["n_feats"] == 8 and spec.scale == 2
    state = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)
    assert isinstance(state["rng"][0]["torch"], torch.Tensor) and state["step"] == 40 and state["world_size"] == 1


def test_resume_continues_the_same_run_exactly(photos, tmp_path):
    kd = dict(method="kd", teacher=str(photos / "teacher.safetensors"))
    Trainer(_cfg(photos, tmp_path / "full", **kd), progress=False).run()
    Trainer(_cfg(photos, tmp_path / "part", ckpt_every=2, **kd), progress=False).run(until=5)  # killed after step 5; resumes from 4
    half = tmp_path / "part" / ".resume.pt.k1ll3d.pt.tmp"  # what a kill in the middle of a checkpoint leaves
    half.write_bytes(b"half a checkpoint")
    (tmp_path / "part" / ".mine").write_text("not srkd's")
    cfg = load_config(tmp_path / "part" / "config.yaml", overrides={})
    Trainer(cfg, resume=True, progress=False).run()
    assert not half.exists() and (tmp_path / "part" / ".mine").read_text() == "not srkd's"
    full = torch.load(tmp_path / "full" / "resume.pt", weights_only=True)
    part = torch.load(tmp_path / "part" / "resume.pt", weights_only=True)
    assert full["step"] == part["step"] == 6
    for k in full["student"]:
        assert torch.equal(full["student"][k], part["student"][k]), k
    for a, b in zip(full["optimizer"]["state"].values(), part["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["step"], b["step"])
    loss = lambda run: [r["loss"] for r in map(json.loads, (tmp_path / run / "log.jsonl").read_text().splitlines()) if "loss" in r]  # noqa: E731
    assert loss("full") == loss("part")


def test_state_dict_is_what_resume_pt_holds(photos, tmp_path):
    trainer = Trainer(_cfg(photos, tmp_path / "run", steps=3), progress=False)
    trainer.run()
    state = trainer.state_dict()
    saved = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)
    keys = ["step", "world_size", "precision", "student", "ema", "method", "optimizer", "scaler", "best_psnr", "rng"]
    assert list(state) == list(saved) == keys and state["step"] == saved["step"] == 3
    assert all(torch.equal(state["student"][k], saved["student"][k]) for k in saved["student"])
    fresh = Trainer(_cfg(photos, tmp_path / "run", steps=3), resume=True, progress=False)
    assert fresh.step == 3 and fresh.data_position == saved["rng"][0]["data"]
    with pytest.raises(TrainingError, match="saved by 2 processes, resumed with 1"):
        fresh.load_state_dict({**saved, "world_size": 2})


def test_checkpoint_write_is_atomic(photos, tmp_path, monkeypatch):
    trainer = Trainer(_cfg(photos, tmp_path / "run", steps=3), progress=False)
    trainer.run()
    before = (tmp_path / "run" / "resume.pt").read_bytes()
    real_save = torch.save

    def crash(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:  # half a file on disk, then the process "dies"
            fh.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    assert (tmp_path / "run" / "resume.pt").read_bytes() == before
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


def test_config_file_and_unknown_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("steps: 12\nbatch: 3\ndata: [a]\n")
    cfg = load_config(tmp_path / "c.yaml", overrides={"batch": 5, "lr": None})
    assert (cfg.steps, cfg.batch, cfg.data) == (12, 5, ["a"])
    (tmp_path / "bad.yaml").write_text("stepz: 12\n")
    with pytest.raises(ConfigError, match="unknown config key.*stepz"):
        load_config(tmp_path / "bad.yaml", overrides={})


def test_cli_bad_teacher_and_bad_data(photos, tmp_path):
    (tmp_path / "teacher.pth").write_bytes(b"garbage")
    out = run_srkd("distill", "--teacher", tmp_path / "teacher.pth", "--data", photos / "hr", "--scale", 2,
                   "--steps", 2, "--out", tmp_path / "r1", "--quiet")
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1].startswith("srkd: error:") and "teacher.pth" in out.stderr
    assert "Traceback" not in out.stderr
    out = run_srkd("distill", "--method", "scratch", "--data", tmp_path / "nodata", "--scale", 2, "--steps", 2,
                   "--out", tmp_path / "r2", "--quiet")
    assert out.returncode == 1 and "nodata: no such data folder" in out.stderr and "Traceback" not in out.stderr
    out = run_srkd("distill", "--method", "kd", "--data", photos / "hr", "--steps", 2, "--out", tmp_path / "r3")
    assert out.returncode == 1 and "needs a teacher" in out.stderr


def test_cli_distill_and_resume_through_subprocess(photos, tmp_path):
    args = ["--student", "edsr:n_feats=8,n_blocks=1", "--data", photos / "hr", "--scale", 2, "--batch", 2,
            "--patch", 16, "--ckpt-every", 2, "--quiet", "--precision", "fp32"]
    out = run_srkd("distill", "--method", "scratch", "--steps", 2, "--out", tmp_path / "run", *args)
    assert out.returncode == 0, out.stderr
    out = run_srkd("distill", "--resume", tmp_path / "run", "--steps", 4, "--quiet")
    assert out.returncode == 0, out.stderr
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["step"] == 4


def _grad_norms(out):
    return [r["term_grad_norms"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())
            if "term_grad_norms" in r]


def test_term_grad_norms_are_logged_weighted_and_leave_training_unchanged(photos, tmp_path):
    teacher = str(photos / "teacher.safetensors")
    for name, args in (("plain", {}), ("heavy", {"lambda_pix": 3.0}), ("off", {})):
        cfg = _cfg(photos, tmp_path / name, method="kd", teacher=teacher, method_args=args,
                   term_grads_every=0 if name == "off" else 1)
        Trainer(cfg, progress=False).run()
    plain, heavy = _grad_norms(tmp_path / "plain"), _grad_norms(tmp_path / "heavy")
    assert [sorted(r) for r in plain] == [["kd", "pix"]] * 6 and not _grad_norms(tmp_path / "off")
    assert all(r["pix"] > 0 and r["kd"] > 0 for r in plain)
    # step 1 (same init, same batch): the pixel term's norm is weighted by lambda_pix, the kd term's is not
    assert heavy[0]["pix"] == pytest.approx(3 * plain[0]["pix"], rel=1e-5)
    assert heavy[0]["kd"] == pytest.approx(plain[0]["kd"], rel=1e-5)
    losses = lambda out: [r["loss"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses(tmp_path / "plain") == losses(tmp_path / "off")  # the diagnostic does not change the run
    with pytest.raises(ConfigError, match="term_grads_every"):
        _cfg(photos, tmp_path / "bad", term_grads_every=-1).validate()
