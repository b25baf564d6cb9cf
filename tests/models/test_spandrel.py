"""Architectures only spandrel knows: detection, output-level teaching, and a clear refusal of feature KD.
Also cross-checks srkd's SwinIR and RCAN against spandrel's ports of the official code.

spandrel is an optional extra: these tests skip, with the reason, where it does not import
(`make test` runs them in a second virtual environment, see the Makefile).
"""
import pytest
import torch

from srkd.distill.methods import require_features, teacher_methods
from srkd.errors import BackendUnavailableError, CheckpointError, ConfigError
from srkd.models import build_model
from srkd.models.capabilities import supports_features
from srkd.models.checkpoint import load_model
from srkd.models.spandrel_import import import_spandrel

pytestmark = pytest.mark.spandrel


def test_without_spandrel_foreign_layouts_name_the_extra(shared):
    try:
        import_spandrel()
    except BackendUnavailableError:
        with pytest.raises(CheckpointError, match=r"unrecognised state-dict layout.*srkd\[spandrel\]"):
            load_model(shared / "weights" / "CRAFT_x4.pth")
        return
    pytest.skip("spandrel is importable here; the message for its absence cannot be checked")


@pytest.mark.parametrize("name,scale,arch,req", [
    ("DCTLSA_x2.pt", 2, "DCTLSA", {"minimum": 16, "multiple_of": 1}),
    ("CRAFT_x4.pth", 4, "CRAFT", {"minimum": 16, "multiple_of": 16}),
])
def test_detected_as_an_output_level_teacher(spandrel, shared, name, scale, arch, req):
    model, spec = load_model(shared / "weights" / name)
    assert spec.arch == "spandrel" and spec.hparams["architecture"] == arch and spec.scale == scale
    assert spec.size_req.to_dict() == req and spec.value_range_source == "spandrel"
    assert not supports_features(model) and teacher_methods(model) == ["kd", "augkd"]
    with pytest.raises(ConfigError, match=f"mipkd needs feature access.*spandrel \\({arch}\\)"):
        require_features(model, method="mipkd")
    with torch.no_grad():
        assert model(torch.rand(1, 3, 17, 21)).shape == (1, 3, 17 * scale, 21 * scale)  # padded and cropped


def test_craft_x4_set5(spandrel, shared):
    from srkd.evaluate import evaluate

    model, _ = load_model(shared / "weights" / "CRAFT_x4.pth")
    res = evaluate(model, data=shared / "data" / "bench" / "Set5", scale=4, with_ssim=False)
    assert abs(res.psnr - 32.39) <= 0.01


@pytest.mark.slow
def test_dctlsa_x2_set5(spandrel, shared):
    from srkd.evaluate import evaluate

    model, _ = load_model(shared / "weights" / "DCTLSA_x2.pt")
    res = evaluate(model, data=shared / "data" / "bench" / "Set5", scale=2, with_ssim=False)
    assert abs(res.psnr - 38.25) <= 0.01


def _perturbed(arch, hp):
    torch.manual_seed(0)
    model = build_model(arch, hp).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("upsampler,scale", [("pixelshuffle", 4), ("pixelshuffle", 3), ("pixelshuffledirect", 2)])
def test_swinir_matches_spandrels_port_of_the_official_code(spandrel, upsampler, scale):
    model = _perturbed("swinir", dict(scale=scale, embed_dim=12, depths=[2, 2], num_heads=[2, 3], window_size=4,
                                      img_size=16, upsampler=upsampler))  # spandrel fixes num_feat at 64
    desc = spandrel.ModelLoader().load_from_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    assert desc.architecture.id == "SwinIR" and desc.scale == scale
    ref = desc.model.eval()
    for x in (torch.rand(1, 3, 13, 10), torch.rand(2, 3, 16, 16)):
        with torch.no_grad():
            torch.testing.assert_close(model(x.clone()), ref(x.clone()), rtol=1e-4, atol=1e-4)


def test_rcan_matches_spandrels_port_of_the_official_code(spandrel):
    model = _perturbed("rcan", dict(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        sd[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        sd[f"{name}.bias"] = sign * 255 * model.mean.flatten()
    ref = spandrel.ModelLoader().load_from_state_dict(sd).model.eval()
    x = torch.rand(1, 3, 11, 9)
    with torch.no_grad():
        torch.testing.assert_close(model(x.clone()), ref(x.clone()), rtol=1e-4, atol=1e-4)


def test_distill_with_a_spandrel_teacher(spandrel, shared, tmp_path):
    from conftest import run_srkd

    out = run_srkd("distill", "--teacher", shared / "weights" / "CRAFT_x4.pth", "--method", "kd",
                   "--student", "edsr:n_feats=8,n_blocks=1", "--data", shared / "data" / "bench" / "Set5" / "HR",
                   "--scale", 4, "--steps", 2, "--batch", 2, "--patch", 20, "--out", tmp_path / "run",
                   "--device", "cpu", "--threads", 1, "--quiet")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "student_best.safetensors").is_file()
