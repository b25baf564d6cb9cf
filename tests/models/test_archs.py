"""RCAN, SwinIR, IMDN, RFDN, SPAN, Compact: forward shapes at odd sizes, the feature-access contract, official key
names, and state-dict round trips (srkd safetensors and the official .pth layout) on tiny configs."""
import pytest
import torch

from srkd.distill.methods import teacher_methods
from srkd.models import build_model
from srkd.models.capabilities import supports_features
from srkd.models.checkpoint import load_model, save_model

TINY = {
    "rcan": dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4),
    "swinir": dict(embed_dim=12, depths=[2, 2], num_heads=[2, 3], window_size=4, img_size=16, num_feat=8),
    "swinir-light": dict(embed_dim=12, depths=[2], num_heads=[3], window_size=4, img_size=16,
                         upsampler="pixelshuffledirect", resi_connection="3conv"),
    "imdn": dict(n_feats=16, n_blocks=3),
    "rfdn": dict(n_feats=12, n_blocks=3),
    "span": dict(feature_channels=8, n_blocks=3, norm=True),
    "span-nonorm": dict(feature_channels=6, n_blocks=1, norm=False),
    "span-folded": dict(feature_channels=8, n_blocks=2, branches=False),
    "compact": dict(num_feat=8, num_conv=3),
}
# official key names each layout must keep (beyond the obvious)
KEYS = {
    "rcan": ["head.0.weight", "body.0.body.1.body.3.conv_du.0.weight", "body.1.body.2.weight", "body.2.weight",
             "tail.0.0.weight", "tail.1.weight"],
    "swinir": ["conv_first.weight", "patch_embed.norm.weight", "layers.1.residual_group.blocks.1.attn_mask",
               "layers.0.residual_group.blocks.0.attn.relative_position_index", "layers.0.conv.weight",
               "norm.weight", "conv_after_body.weight", "conv_before_upsample.0.weight", "upsample.0.weight",
               "conv_last.weight"],
    "swinir-light": ["layers.0.conv.4.weight", "conv_after_body.0.weight", "upsample.0.weight"],
    "imdn": ["fea_conv.weight", "IMDB3.c4.weight", "IMDB1.cca.conv_du.2.weight", "c.0.weight", "LR_conv.weight",
             "upsampler.0.weight"],
    "rfdn": ["B3.c1_d.weight", "B1.esa.conv3_.weight", "B2.esa.conv_max.weight", "c.0.weight", "upsampler.0.weight"],
    "span": ["conv_1.sk.weight", "conv_1.conv.0.weight", "block_3.c3_r.conv.2.bias", "block_2.c2_r.conv.1.weight",
             "conv_cat.weight", "conv_2.sk.bias", "upsampler.0.weight"],
    "span-nonorm": ["no_norm", "block_1.c1_r.sk.weight"],
    "span-folded": ["conv_1.eval_conv.weight", "block_2.c3_r.eval_conv.bias", "conv_2.eval_conv.weight"],
    "compact": ["body.0.weight", "body.1.weight", "body.7.weight", "body.8.bias"],
}


def tiny(name: str, scale: int = 2, **kw):
    torch.manual_seed(0)
    model = build_model(name.split("-")[0], {"scale": scale, **TINY[name], **kw}).eval()
    with torch.no_grad():  # move away from the init so every parameter matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_shapes_at_odd_sizes(name, scale):
    model = tiny(name, scale)
    with torch.no_grad():
        for h, w in [(17, 15), (15, 22)]:
            assert model(torch.rand(2, 3, h, w)).shape == (2, 3, h * scale, w * scale)


@pytest.mark.parametrize("name", list(TINY))
def test_feature_access_contract(name):
    model = tiny(name)
    x = torch.rand(1, 3, 16, 16)  # a multiple of SwinIR's window: forward_from's grid is the input's
    with torch.no_grad():
        y = model(x)
        stem, feats = model.forward_features(x)
        assert len(feats) == len(model.blocks) >= 1 and supports_features(model)
        for k in range(len(feats) + 1):  # exactly: the same operations on the same tensors
            assert torch.equal(model.forward_from(k, feats[:k], stem, x=x), y), k
        k = len(feats)
        assert not torch.allclose(model.forward_from(k, feats[:-1] + [feats[-1] * 0], stem, x=x), y)
    assert "mipkd" in teacher_methods(model)


@pytest.mark.parametrize("name", list(TINY))
def test_official_key_names(name):
    keys = set(tiny(name).state_dict())
    missing = [k for k in KEYS[name] if k not in keys]
    assert not missing, f"not in the state dict: {missing}"


@pytest.mark.parametrize("name", list(TINY))
def test_safetensors_round_trip(tmp_path, name):
    model = tiny(name, 3)
    save_model(tmp_path / "m.safetensors", model)
    loaded, spec = load_model(tmp_path / "m.safetensors")
    assert spec.arch == model.arch and spec.hparams == model.hparams and spec.value_range_source == "recorded"
    x = torch.rand(1, 3, 15, 17)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("name", list(TINY))
def test_official_pth_is_detected_with_its_hyperparameters(tmp_path, name):
    model = tiny(name, 4)
    sd = model.state_dict()
    if name == "imdn":
        sd = {f"module.{k}": v for k, v in sd.items()}  # the official release is a DataParallel dump
    if name.startswith("swinir"):
        sd = {"params": sd}
    torch.save(sd, tmp_path / "official.pth")
    loaded, spec = load_model(tmp_path / "official.pth")
    assert spec.arch == model.arch and spec.hparams == model.hparams
    if getattr(model, "range_fixed", False):  # Compact, SPAN without norm: the range is the network's
        assert spec.value_range_source == "weights" and spec.value_range == (0.0, 1.0)
    else:
        assert spec.value_range_source == "default" and spec.range_is_guess  # untrained: the probe abstains
    x = torch.rand(1, 3, 16, 15)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_rcan_official_mean_shift_sets_mean_and_range(tmp_path):
    model = tiny("rcan", 2, rgb_mean=(0.5, 0.4, 0.3))
    sd = dict(model.state_dict())
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        sd[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        sd[f"{name}.bias"] = sign * 255 * torch.tensor([0.5, 0.4, 0.3])
    torch.save(sd, tmp_path / "rcan.pt")
    loaded, spec = load_model(tmp_path / "rcan.pt")
    assert spec.hparams["rgb_mean"] == pytest.approx([0.5, 0.4, 0.3]) and spec.value_range == (0.0, 255.0)
    assert spec.value_range_source == "weights"
    x = torch.rand(1, 3, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def _to_basicsr_rcan(sd: dict, *, groups: int, blocks: int) -> dict:
    """Rename official RCAN keys to BasicSR's rcan_arch names (written out independently of srkd)."""
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        if p[0] == "head":
            nk = "conv_first." + p[-1]
        elif p[0] == "tail":
            nk = (f"upsample.{p[2]}." if p[1] == "0" else "conv_last.") + p[-1]
        elif int(p[1]) == groups:
            nk = "conv_after_body." + p[-1]
        elif int(p[3]) == blocks:
            nk = f"body.{p[1]}.conv.{p[-1]}"
        elif p[5] == "3":
            nk = f"body.{p[1]}.residual_group.{p[3]}.rcab.3.attention.{1 if p[7] == '0' else 3}.{p[-1]}"
        else:
            nk = f"body.{p[1]}.residual_group.{p[3]}.rcab.{p[5]}.{p[-1]}"
        out[nk] = v
    return out


def test_rcan_basicsr_layout(tmp_path):
    model = tiny("rcan", 4)
    sd = _to_basicsr_rcan(model.state_dict(), groups=2, blocks=2)
    assert "body.0.residual_group.1.rcab.3.attention.3.weight" in sd and "conv_after_body.weight" in sd
    torch.save({"params_ema": sd}, tmp_path / "net_g.pth")
    loaded, spec = load_model(tmp_path / "net_g.pth")
    assert spec.arch == "rcan" and spec.hparams == model.hparams
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def _params(arch: str, **hp) -> float:
    return round(sum(p.numel() for p in build_model(arch, {"scale": 4, **hp}).parameters()) / 1e6, 2)


def test_published_configs_have_the_published_sizes():
    student = build_model("rcan", {"scale": 4, "n_resgroups": 10, "n_resblocks": 6})
    assert len(student.blocks) == 10 and len(student.blocks[0].body) == 7
    assert _params("rcan") == 15.59 and _params("rcan", n_resblocks=6) == 5.17  # KD papers' teacher / student
    assert _params("swinir") == 11.90  # SwinIR-M x4
    light = _params("swinir", embed_dim=60, depths=[6] * 4, num_heads=[6] * 4, upsampler="pixelshuffledirect")
    assert light == 0.93  # SwinIR-S x4: 0.897 M + the relative-position tables the paper leaves out


def test_student_strings_parse():
    from srkd.models import parse_arch_string

    arch, hp = parse_arch_string("swinir:embed_dim=60,depths=6/6/6/6,num_heads=6/6/6/6,upsampler=pixelshuffledirect",
                                 scale=4)
    assert hp["depths"] == [6, 6, 6, 6] and hp["upsampler"] == "pixelshuffledirect"
    assert build_model(arch, hp).hparams["embed_dim"] == 60
    assert parse_arch_string("rcan:n_resgroups=10,n_resblocks=6", scale=4)[1] == {"n_resgroups": 10, "n_resblocks": 6,
                                                                                   "scale": 4}
    assert parse_arch_string("rfdn:img_range=255")[1] == {"img_range": 255.0}
