import pytest
import torch

from srkd.models import build_model, describe, parse_arch_string
from srkd.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_shape_and_range_handling(scale):
    model = build_model("edsr", {"scale": scale, "n_feats": 8, "n_blocks": 2}).eval()
    x = torch.rand(2, 3, 12, 10)
    y = model(x)
    assert y.shape == (2, 3, 12 * scale, 10 * scale)
    assert describe(model).scale == scale


def test_feature_access_contract():
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 4}).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        y = model(x)
        stem, feats = model.forward_features(x)
        assert len(feats) == 4 == len(model.blocks)
        for k in range(5):
            torch.testing.assert_close(model.forward_from(k, feats[:k], stem, x=x), y)
        # replacing the last feature changes the output: forward_from really uses it
        assert not torch.allclose(model.forward_from(2, [feats[0], feats[1] * 0], stem, x=x), y)


def test_parse_arch_string():
    assert parse_arch_string("edsr:n_feats=32,n_blocks=8", scale=4) == ("edsr", {"n_feats": 32, "n_blocks": 8, "scale": 4})
    assert parse_arch_string("EDSR:res_scale=0.1")[1] == {"res_scale": 0.1}
    with pytest.raises(ConfigError, match="n_feat"):
        parse_arch_string("edsr:n_feat=32")
    with pytest.raises(ConfigError, match="not a valid int"):
        parse_arch_string("edsr:n_feats=big")
    with pytest.raises(UnknownNameError, match="available: bicubic, compact, edsr"):
        parse_arch_string("edsrr")
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        build_model("edsr", {"depth": 3})
