"""SwinIR's window padding and size requirements; value-range conversion and --input-range."""
import pytest
import torch
import torch.nn.functional as F

from srkd.errors import CheckpointError
from srkd.models import build_model, describe
from srkd.models.checkpoint import load_model, save_model
from srkd.models.padding import pad_to_req
from srkd.models.spec import SizeReq


def _swinir(**kw):
    torch.manual_seed(0)
    hp = dict(scale=2, embed_dim=12, depths=[2], num_heads=[2], window_size=4, img_size=16, num_feat=8, **kw)
    return build_model("swinir", hp).eval()


def test_swinir_reflect_pads_to_the_window_and_crops_back():
    model = _swinir()
    x = torch.rand(1, 3, 13, 10)
    padded = F.pad(x, (0, 2, 0, 3), mode="reflect")  # to 16 x 12, bottom/right
    with torch.no_grad():
        y = model(x)
        ref = model(padded)[:, :, :26, :20]
        stem, feats = model.forward_features(x)
        full = model.forward_from(len(feats), feats, stem, x=x)
    assert y.shape == (1, 3, 26, 20) and stem.shape[2:] == (16, 12)
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(full[:, :, :26, :20], y)  # forward_from works on the padded grid


def test_swinir_size_req_is_recorded_and_tiny_inputs_work(tmp_path):
    model = _swinir(upsampler="pixelshuffledirect")
    assert describe(model).size_req == SizeReq(minimum=1, multiple_of=4)
    save_model(tmp_path / "s.safetensors", model)
    _, spec = load_model(tmp_path / "s.safetensors")
    assert spec.size_req.to_dict() == {"minimum": 1, "multiple_of": 4}
    with torch.no_grad():
        assert model(torch.rand(1, 3, 2, 3)).shape == (1, 3, 4, 6)  # reflect runs out; replicate finishes


def test_pad_to_req_reflects_then_replicates():
    x = torch.arange(3.0).view(1, 1, 1, 3)
    out = pad_to_req(x, SizeReq(minimum=1, multiple_of=8))
    assert out.shape == (1, 1, 8, 8)
    assert out[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 0, 0, 0]


def test_swinir_official_file_without_buffers_still_loads(tmp_path):
    model = _swinir()
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith(("attn_mask", "relative_position_index"))}
    torch.save({"params": sd}, tmp_path / "swinir.pth")
    loaded, spec = load_model(tmp_path / "swinir.pth")
    assert spec.hparams["img_size"] == 64  # no mask to read it from: the official default
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("arch", ["imdn", "rfdn", "rcan", "swinir"])
def test_img_range_converts_inside_the_model(arch):
    small = {"imdn": dict(n_feats=8, n_blocks=2), "rfdn": dict(n_feats=8, n_blocks=2),
             "rcan": dict(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4),
             "swinir": dict(embed_dim=12, depths=[2], num_heads=[2], window_size=4, img_size=16, num_feat=8)}[arch]
    torch.manual_seed(0)
    m255 = build_model(arch, {"scale": 2, "img_range": 255.0, **small}).eval()
    m1 = build_model(arch, {"scale": 2, "img_range": 1.0, **small}).eval()
    m1.load_state_dict(m255.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        if arch in ("imdn", "rfdn"):  # no mean shift: the network just sees x * 255
            torch.testing.assert_close(m255(x), m1(x * 255) / 255, rtol=1e-4, atol=1e-5)
        else:  # mean-shifted: (x - mean) * 255 in, / 255 + mean out
            mean = m1.mean
            torch.testing.assert_close(m255(x), (m1((x - mean) * 255 + mean) - mean) / 255 + mean, rtol=1e-4, atol=1e-4)
    assert describe(m255).value_range == (0.0, 255.0) and describe(m1).value_range == (0.0, 1.0)


def test_input_range_overrides_and_is_reported(tmp_path):
    torch.manual_seed(0)
    model = build_model("rfdn", {"scale": 2, "n_feats": 8, "n_blocks": 2}).eval()
    torch.save(model.state_dict(), tmp_path / "rfdn.pth")
    loaded, spec = load_model(tmp_path / "rfdn.pth", input_range=255)
    assert spec.value_range == (0.0, 255.0) and spec.value_range_source == "user" and not spec.range_is_guess
    save_model(tmp_path / "rfdn.safetensors", loaded)
    again, spec2 = load_model(tmp_path / "rfdn.safetensors")
    assert spec2.value_range == (0.0, 255.0) and spec2.value_range_source == "recorded"
    _, spec3 = load_model(tmp_path / "rfdn.safetensors", input_range=1)
    assert spec3.value_range == (0.0, 1.0) and spec3.value_range_source == "user"
    bic = build_model("bicubic", {"scale": 2})
    save_model(tmp_path / "bic.safetensors", bic)
    with pytest.raises(CheckpointError, match="no input-range setting"):
        load_model(tmp_path / "bic.safetensors", input_range=255)
