import json

import pytest
from conftest import photo_run_folder
import torch
from torch import nn

from srkd.distill.config import DistillConfig, load_config
from srkd.distill.methods import METHODS
from srkd.distill.mixers import FeaturePriorMixer, MaskRatio, linear_cka, random_mask, stage_positions
from srkd.distill.teacher import FrozenTeacher
from srkd.distill.trainer import Trainer
from srkd.errors import ConfigError
from srkd.models import build_model
from srkd.models.checkpoint import load_model, save_model


def _pair(*, t_feats=32, t_blocks=8, s_feats=8, s_blocks=4, scale=2, **args):
    """Teacher EDSR c256b32 -> student c64b16, built at tiny sizes (the same 4:1 width, 2:1 depth)."""
    torch.manual_seed(0)
    teacher = FrozenTeacher(build_model("edsr", {"scale": scale, "n_feats": t_feats, "n_blocks": t_blocks}))
    student = build_model("edsr", {"scale": scale, "n_feats": s_feats, "n_blocks": s_blocks})
    return METHODS.get("mipkd")(student=student, teacher=teacher, args=args)


def _batch(n=2, size=8, scale=2):
    torch.manual_seed(1)
    return {"lr": torch.rand(n, 3, size, size), "hr": torch.rand(n, 3, size * scale, size * scale)}


def test_stage_positions_map_depth_proportionally():
    assert stage_positions(32, 4) == [8, 16, 24, 32] and stage_positions(16, 4) == [4, 8, 12, 16]
    assert stage_positions(7, 3) == [2, 5, 7] and stage_positions(3, 3) == [1, 2, 3]
    assert stage_positions(5, 2) == [3, 5] and stage_positions(3, 2) == [2, 3]  # halves round up
    with pytest.raises(ValueError):
        stage_positions(3, 4)


def test_fixed_mask_is_a_per_sample_3d_bernoulli_with_ratio_r():
    torch.manual_seed(0)
    like = torch.zeros(16, 24, 16, 16)
    for r in (0.1, 0.5, 0.8):
        m = random_mask(like, r)
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        assert abs(m.mean().item() - r) < 0.01
        per_sample = m.mean(dim=(1, 2, 3))
        assert (per_sample - r).abs().max() < 0.04  # every sample gets about r, not just the batch
        # 3-D: neither constant across channels nor across positions
        assert m.std(dim=1).mean() > 0.2 and m.flatten(2).std(dim=2).mean() > 0.2
    assert random_mask(like, 0.0).sum() == 0 and random_mask(like, 1.0).mean() == 1


def test_mixer_takes_teacher_entries_where_the_mask_is_one():
    torch.manual_seed(0)
    fpm = FeaturePriorMixer(teacher_channels=12, student_channels=4, latent=6)
    f_t, f_s = torch.randn(2, 12, 5, 5), torch.randn(2, 4, 5, 5)
    teacher_only, ae = fpm(f_t, f_s, ratio=1.0)
    torch.testing.assert_close(teacher_only, fpm.dec(fpm.enc_t(f_t)))
    torch.testing.assert_close(ae, teacher_only)
    student_only, _ = fpm(f_t, f_s, ratio=0.0)
    torch.testing.assert_close(student_only, fpm.dec(fpm.enc_s(f_s)))
    assert teacher_only.shape == (2, 12, 5, 5)


def test_adaptive_ratio_follows_the_feature_gap():
    torch.manual_seed(0)
    x = torch.randn(4, 16, 10, 10)
    rot = torch.linalg.qr(torch.randn(16, 16))[0]
    aligned = torch.einsum("nchw,cd->ndhw", x, rot) * 7.0  # x rotated and scaled: no gap
    assert linear_cka(x, aligned).item() > 0.99 and linear_cka(x, x * 3 + 1).item() > 0.99
    unrelated = torch.randn(4, 8, 10, 10)
    assert linear_cka(x, unrelated).item() < 0.1
    kw = dict(stages=2, ratio=0.5, low=0.1, high=0.9, momentum=0.5)
    ada = MaskRatio(mode="adaptive", **kw)
    for _ in range(20):
        ada.update(0, x, aligned)  # similar features: little teacher prior
        ada.update(1, x, unrelated)  # large gap: much teacher prior
    assert abs(ada(0).item() - 0.1) < 1e-3 and abs(ada(1).item() - 0.9) < 1e-3
    fixed = MaskRatio(mode="fixed", **kw)
    fixed.update(0, x, unrelated)
    assert fixed(0).item() == 0.5
    # through the method: the buffer moves, stays clipped, and is what gets logged
    m = _pair(mask_mode="adaptive", ratio_min=0.2, ratio_max=0.6, stages=2)
    parts = m(_batch())
    r = m.ratio.ratio
    assert not torch.equal(r, torch.full((2,), 0.5)) and ((r >= 0.2) & (r <= 0.6)).all()
    assert parts["mask_ratio"].item() == pytest.approx(r.mean().item())
    assert "ratio.ratio" in m.helper_state()


@pytest.mark.parametrize("t_blocks,s_blocks,stages,scale", [(8, 4, 4, 2), (7, 3, 3, 3), (7, 3, 2, 4)])
def test_shapes_across_width_and_depth_mismatch(t_blocks, s_blocks, stages, scale):
    m = _pair(t_blocks=t_blocks, s_blocks=s_blocks, stages=stages, scale=scale, latent_channels=16, lambda_block=0.1)
    assert m.pos_t == stage_positions(t_blocks, stages) and m.pos_s == stage_positions(s_blocks, stages)
    for fpm, proj in zip(m.fpm, m.bpm.proj):
        assert fpm.enc_t[0].in_channels == 32 and fpm.enc_s[0].in_channels == 8
        assert fpm.enc_t[-1].out_channels == fpm.enc_s[-1].out_channels == 16
        assert fpm.dec[-1].out_channels == 32 and (proj.in_channels, proj.out_channels) == (32, 8)
    f_t = torch.randn(2, 32, 6, 6)
    d_mix, d_ae = m.fpm[0](f_t, torch.randn(2, 8, 6, 6), ratio=0.5)
    assert d_mix.shape == d_ae.shape == f_t.shape and m.bpm(0, d_mix).shape == (2, 8, 6, 6)
    parts = m(_batch(scale=scale))
    assert set(parts) == {"loss", "pix", "kd", "feat", "block", "ae", "mask_ratio"}
    assert all(torch.isfinite(v) for v in parts.values())
    assert _pair(latent_channels=None, stages=2).fpm[0].enc_t[-1].out_channels == 8  # default C_z: student width


def test_loss_composition_against_direct_computation():
    weights = dict(lambda_pix=0.3, lambda_kd=2.0, lambda_feat=0.7, lambda_block=0.2, lambda_ae=0.5)
    m = _pair(stages=2, **weights)
    batch = _batch()
    parts = m(batch)
    sr, t = m.student(batch["lr"]), m.teacher(batch["lr"])  # T(x) via forward_from equals teacher(x)
    torch.testing.assert_close(parts["pix"], (sr - batch["hr"]).abs().mean())
    torch.testing.assert_close(parts["kd"], (sr - t).abs().mean())
    expected = sum(weights[f"lambda_{k}"] * parts[k] for k in ("pix", "kd", "feat", "block", "ae"))
    torch.testing.assert_close(parts["loss"], expected)


def test_loss_on_a_fixed_batch_is_unchanged_for_edsr():
    """The figures the method gave before the feature contract passed the input too (issue 19): the
    extension must not move EDSR's numbers (either continuation of the block mixer)."""
    expected = {0.0: (4.340570449829102, 0.062162864953279495), 1.0: (4.3369903564453125, 0.026358196511864662)}
    for block_prob, (loss, block) in expected.items():
        parts = _pair(stages=2, block_prob=block_prob, lambda_feat=1.0, lambda_block=0.1)(_batch())  # the weight they were taken at
        got = torch.stack([parts[k].detach() for k in ("loss", "block", "pix", "feat")])
        torch.testing.assert_close(got, torch.tensor([loss, block, 0.26075831055641174, 2.004268169403076]))


def _grads(module):
    return [p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()]


def test_gradients_reach_student_and_mixers_never_the_teacher():
    m = _pair(stages=2)
    m(_batch())["loss"].backward()
    assert all(_grads(m.student)) and all(_grads(m.fpm))
    assert all(p.grad is None for p in m.teacher.parameters())
    assert all(not p.requires_grad for p in m.teacher.parameters())
    # the block term alone, continued through the frozen teacher: gradients pass through its blocks
    only_block = dict(lambda_pix=0.0, lambda_kd=0.0, lambda_feat=0.0, lambda_ae=0.0, lambda_block=1.0, stages=2)
    m = _pair(block_prob=1.0, **only_block)
    m(_batch())["loss"].backward()
    assert all(p.grad is None for p in m.teacher.parameters())
    assert m.student.head[0].weight.grad.abs().sum() > 0  # reached the student through D, E_S and its stem
    assert all(_grads(m.fpm[0].enc_s)) or all(_grads(m.fpm[1].enc_s))
    assert all(p.grad is None for p in m.bpm.parameters())
    # ... or through the student's remaining blocks after the projection
    m = _pair(block_prob=0.0, **only_block)
    m(_batch())["loss"].backward()
    assert sum(all(_grads(p)) for p in m.bpm.proj) == 1 and all(_grads(m.student.tail))
    assert all(p.grad is None for p in m.teacher.parameters())


class Opaque(nn.Module):
    """A model with only ``forward``, like a spandrel-wrapped foreign network."""

    arch = "opaque"

    def __init__(self):
        super().__init__()
        self.net = build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 1})
        self.scale = 2

    def forward(self, x):
        return self.net(x)


def test_models_without_feature_access_and_bad_options_are_config_errors():
    student = build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 2})
    with pytest.raises(ConfigError, match="teacher: method mipkd needs feature access.*opaque"):
        METHODS.get("mipkd")(student=student, teacher=FrozenTeacher(Opaque()), args={})
    teacher = FrozenTeacher(build_model("edsr", {"scale": 2, "n_feats": 4, "n_blocks": 2}))
    with pytest.raises(ConfigError, match="student: method mipkd needs feature access"):
        METHODS.get("mipkd")(student=Opaque(), teacher=teacher, args={})
    with pytest.raises(ConfigError, match="stages=4 needs at least 4 body blocks"):
        METHODS.get("mipkd")(student=student, teacher=teacher, args={"stages": 4})
    for args, msg in (({"mask_mode": "grid"}, "mask_mode"), ({"mask_ratio": 1.5}, "mask_ratio"),
                      ({"ratio": 0.5}, "unknown option.*ratio"), ({"ratio_min": 0.8, "ratio_max": 0.2}, "ratio_min")):
        with pytest.raises(ConfigError, match=msg):
            METHODS.get("mipkd")(student=student, teacher=teacher, args={"stages": 2, **args})


def test_saved_student_has_exactly_the_scratch_parameter_count(tmp_path):
    m = _pair(stages=2)
    m(_batch())["loss"].backward()
    save_model(tmp_path / "s.safetensors", m.student)
    loaded, _ = load_model(tmp_path / "s.safetensors")
    scratch = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 4})
    count = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert count(loaded) == count(scratch) == count(m.student)
    assert set(loaded.state_dict()) == set(scratch.state_dict())
    assert count(m) - count(m.teacher) - count(m.student) == sum(p.numel() for p in m.helper_parameters()) > 0


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Real photos (scikit-image's) and a tiny teacher checkpoint with enough blocks for two stages."""
    return photo_run_folder(tmp_path_factory.mktemp("photos"), teacher_hparams={"n_feats": 16, "n_blocks": 4})


def _cfg(photos, out, **kw):
    base = dict(student="edsr:n_feats=8,n_blocks=2", method="mipkd", teacher=str(photos / "teacher.safetensors"),
                method_args={"stages": 2, "mask_mode": "adaptive", "latent_channels": 8}, data=[str(photos / "hr")],
                scale=2, steps=6, batch=2, patch=16, precision="fp32", out=str(out), val_every=100, ckpt_every=3,
                log_every=1, threads=1)
    base.update(kw)
    return DistillConfig(**base)


def test_resume_restores_the_mixers_exactly(photos, tmp_path):
    trainer = Trainer(_cfg(photos, tmp_path / "full"), progress=False)
    n_student = len(list(trainer.student.parameters()))
    assert len(trainer.opt.param_groups[0]["params"]) == n_student + len(trainer.method.helper_parameters())
    trainer.run()
    Trainer(_cfg(photos, tmp_path / "part", ckpt_every=2), progress=False).run(until=5)  # dies after 5, saved at 4
    resumed = Trainer(load_config(tmp_path / "part" / "config.yaml", overrides={}), resume=True, progress=False)
    at4 = torch.load(tmp_path / "part" / "resume.pt", weights_only=True)["method"]
    for k, v in resumed.method.helper_state().items():
        assert torch.equal(v, at4[k]), k  # the mixers (and the adaptive ratio) come back from resume.pt
    resumed.run()
    full = torch.load(tmp_path / "full" / "resume.pt", weights_only=True)
    part = torch.load(tmp_path / "part" / "resume.pt", weights_only=True)
    assert full["step"] == part["step"] == 6 and "ratio.ratio" in full["method"]
    assert not torch.equal(full["method"]["ratio.ratio"], torch.full((2,), 0.5))
    assert set(full["method"]) == set(part["method"]) and not any(k.startswith(("student.", "teacher.")) for k in full["method"])
    for k in full["method"]:
        assert torch.equal(full["method"][k], part["method"][k]), k
    for k in full["student"]:
        assert torch.equal(full["student"][k], part["student"][k]), k


def test_short_real_run_reduces_the_loss(photos, tmp_path):
    Trainer(_cfg(photos, tmp_path / "run", steps=40, lr=1e-3, log_every=10, ckpt_every=40), progress=False).run()
    recs = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert recs[-1]["loss"] < 0.7 * recs[0]["loss"]
    assert recs[-1]["feat"] < recs[0]["feat"] and recs[-1]["pix"] < recs[0]["pix"]
    model, spec = load_model(tmp_path / "run" / "student_last.safetensors")
    assert spec.hparams == build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).hparams | spec.hparams
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2}).parameters())


@pytest.mark.parametrize("student", ["span:feature_channels=8,n_blocks=2", "compact:num_feat=8,num_conv=2"])
def test_two_step_run_with_span_and_compact_students(photos, tmp_path, student):
    Trainer(_cfg(photos, tmp_path / "run", student=student, steps=2, ckpt_every=2), progress=False).run()
    recs = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert len(recs) == 2 and all(r["feat"] > 0 and r["block"] >= 0 for r in recs)
    model, spec = load_model(tmp_path / "run" / "student_last.safetensors")
    assert spec.arch == student.split(":")[0] and spec.scale == 2


@pytest.mark.parametrize("teacher,student", [
    (("span", {"feature_channels": 12, "n_blocks": 4, "norm": True}), ("compact", {"num_feat": 6, "num_conv": 4})),
    (("compact", {"num_feat": 12, "num_conv": 4}), ("span", {"feature_channels": 6, "n_blocks": 2})),
])
def test_span_and_compact_as_teachers(teacher, student):
    """T(x) from forward_from after all blocks is the teacher's output (Compact's tail needs the input);
    both continuations of the block mixer run, and the student learns through them."""
    torch.manual_seed(0)
    t_model = build_model(teacher[0], {"scale": 2, **teacher[1]})
    s_model = build_model(student[0], {"scale": 2, **student[1]})
    for block_prob in (0.0, 1.0):
        m = METHODS.get("mipkd")(student=s_model, teacher=FrozenTeacher(t_model), args={"stages": 2,
                                                                                        "block_prob": block_prob,
                                                                                        "lambda_block": 0.1})
        batch = _batch()
        parts = m(batch)
        torch.testing.assert_close(parts["kd"], (m.student(batch["lr"]) - m.teacher(batch["lr"])).abs().mean())
        assert all(torch.isfinite(v) for v in parts.values()) and parts["block"] > 0
        parts["loss"].backward()
        assert all(_grads(m.student)) and all(p.grad is None for p in m.teacher.parameters())
        s_model.zero_grad()


def test_defaults_are_two_stages_without_the_block_mixer(tmp_path):
    """The measured defaults (RESULTS.md, "MiPKD ablation"); the published structure on request."""
    m = _pair()
    assert len(m.fpm) == 2 and m.bpm is None and m.cfg.lambda_feat == 0.1
    parts = m(_batch())
    parts["loss"].backward()
    assert float(parts["block"]) == 0.0 and all(_grads(m.student)) and all(_grads(m.fpm))
    published = _pair(stages=4, lambda_block=0.1)
    assert len(published.fpm) == 4 and published.bpm is not None
    assert m.resolved_args()["stages"] == 2 and published.resolved_args()["lambda_block"] == 0.1


def test_a_run_from_before_the_new_defaults_resumes_with_its_options(photos, tmp_path, caplog):
    """config.yaml of older srkd recorded only the options given; the K=4 state then does not fit today's
    K=2 default: a one-line error naming the way out, which works (and merges with the file's options)."""
    import yaml
    from click.testing import CliRunner

    from srkd.cli import main

    out = tmp_path / "old"
    published = {"stages": 4, "lambda_block": 0.1, "latent_channels": 8}
    Trainer(_cfg(photos, out, student="edsr:n_feats=8,n_blocks=4", method_args=published, steps=4, ckpt_every=2),
            progress=False).run(until=3)  # stops after step 3, saved at 2
    saved = yaml.safe_load((out / "config.yaml").read_text())
    (out / "config.yaml").write_text(yaml.safe_dump({**saved, "method_args": {"latent_channels": 8}}))  # as then
    res = CliRunner().invoke(main, ["distill", "--resume", str(out), "--quiet"])
    assert res.exit_code == 1 and "does not fit this config" in res.stderr and "stages=4" in res.stderr
    assert "config.yaml does not record the mipkd option(s)" in caplog.text and "stages=2" in caplog.text
    res = CliRunner().invoke(main, ["distill", "--resume", str(out), "--quiet", "--method-arg", "stages=4",
                                    "--method-arg", "lambda_block=0.1"])
    assert res.exit_code == 0, res.output
    args = yaml.safe_load((out / "config.yaml").read_text())["method_args"]
    assert {k: args[k] for k in published} == published and args["lambda_feat"] == 0.1
