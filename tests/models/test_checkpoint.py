import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from srkd.errors import CheckpointError
from srkd.models import build_model
from srkd.models.checkpoint import load_model, read_metadata, save_model


def _edsr(**kw):
    torch.manual_seed(0)
    return build_model("edsr", {"scale": 4, "n_feats": 8, "n_blocks": 3, **kw}).eval()


def test_safetensors_round_trip_rebuilds_from_file_alone(tmp_path):
    model = _edsr(res_scale=0.5)
    save_model(tmp_path / "m.safetensors", model, provenance={"method": "scratch", "steps": 3})
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["arch"] == "edsr" and meta["scale"] == 4 and meta["weights"] == "ema"
    assert meta["hparams"]["res_scale"] == 0.5 and meta["provenance"]["steps"] == 3
    assert meta["value_range"] == [0.0, 255.0] and meta["size_req"] == {"minimum": 1, "multiple_of": 1}
    loaded, spec = load_model(tmp_path / "m.safetensors")
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert spec.hparams == model.hparams
    assert not list(tmp_path.glob(".*"))  # no temp files left


class BasicSREDSR(nn.Module):
    """An independent re-statement of BasicSR's EDSR layout and forward pass (x4)."""

    def __init__(self, nf=8, nb=3):
        super().__init__()
        self.mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.body = nn.ModuleList()
        for _ in range(nb):
            blk = nn.Module()
            blk.conv1, blk.conv2 = nn.Conv2d(nf, nf, 3, 1, 1), nn.Conv2d(nf, nf, 3, 1, 1)
            self.body.append(blk)
        self.conv_after_body = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upsample = nn.Sequential(nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2), nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2))
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)

    def forward(self, x):
        x = (x - self.mean) * 255.0
        x = self.conv_first(x)
        h = x
        for blk in self.body:
            h = h + blk.conv2(torch.relu(blk.conv1(h)))
        h = self.conv_after_body(h) + x
        return self.conv_last(self.upsample(h)) / 255.0 + self.mean


def test_basicsr_pth_is_mapped_and_computes_the_same(tmp_path):
    torch.manual_seed(1)
    ref = BasicSREDSR().eval()
    sd = {f"module.{k}": v for k, v in ref.state_dict().items()}
    torch.save({"params": {k: v * 0 for k, v in sd.items()}, "params_ema": sd}, tmp_path / "net_g.pth")
    model, spec = load_model(tmp_path / "net_g.pth")
    assert spec.arch == "edsr" and spec.scale == 4 and spec.hparams["n_blocks"] == 3 and spec.hparams["n_feats"] == 8
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5)  # params_ema, not params


def test_official_edsr_layout_with_mean_shift(tmp_path):
    model = _edsr(scale=3)
    sd = dict(model.state_dict())
    sd["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    sd["sub_mean.bias"] = -255 * torch.tensor([0.5, 0.4, 0.3])
    sd["add_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    sd["add_mean.bias"] = 255 * torch.tensor([0.5, 0.4, 0.3])
    torch.save(sd, tmp_path / "edsr_official.pt")
    loaded, spec = load_model(tmp_path / "edsr_official.pt")
    assert spec.scale == 3 and spec.hparams["rgb_mean"] == pytest.approx([0.5, 0.4, 0.3])


def test_bad_checkpoints_give_clear_errors(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="junk.pth: not a PyTorch checkpoint"):
        load_model(tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")
    save_file({"foo.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="unrecognised state-dict layout"):
        load_model(tmp_path / "other.safetensors")
    torch.save({"params": {"head.0.weight": torch.zeros(8, 3, 3, 3)}}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="unrecognised"):
        load_model(tmp_path / "partial.pth")
    model = _edsr()
    sd = model.state_dict()
    sd["body.0.body.0.weight"] = torch.zeros(8, 8, 1, 1)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "bad_shape.safetensors"),
              metadata={"srkd": json.dumps({"arch": "edsr", "hparams": model.hparams, "scale": 4})})
    with pytest.raises(CheckpointError, match="stored tensors do not fit the edsr"):
        load_model(tmp_path / "bad_shape.safetensors")


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"params": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="contains pickled code .*print.*srkd loads weights only"):
        load_model(tmp_path / "evil.pth")
