"""SPAN and Compact: folding SPAN's branches, the public layouts as spandrel builds them (fixtures made by
tests/fixtures/make_spandrel_fixtures.py in the spandrel environment), and the file written for spandrel."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from srkd.errors import CheckpointError, ConfigError
from srkd.models import build_model
from srkd.models.checkpoint import load_model
from srkd.models.repconv import BranchConv, FoldedConv, fold_for_inference
from srkd.models.spandrel_export import save_spandrel, spandrel_problem, spandrel_state_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "spandrel"


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def perturbed(arch: str, seed: int = 0, **hp) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, hp).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def real_lr(photo: np.ndarray, side: int = 48) -> torch.Tensor:
    crop = photo[100 : 100 + side, 180 : 180 + side].astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]


@pytest.mark.parametrize("hp", [dict(scale=4, feature_channels=16, norm=True), dict(scale=2, feature_channels=12)])
def test_folded_span_matches_the_branches_on_a_real_photo(photo, hp):
    model = perturbed("span", **hp)
    folded = fold_for_inference(model)
    assert folded is not model and folded.hparams["branches"] is False and model.hparams["branches"] is True
    x = real_lr(photo)
    with torch.no_grad():
        y, yf = model(x), folded(x)
    assert y.abs().mean() > 0.05  # not a vanishing output
    assert psnr_db(yf, y) >= 80
    # exactly one 3x3 convolution where training had the branches: 3 per block, conv_1, conv_2, the upsampler
    convs = [m for m in folded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(isinstance(m, BranchConv) for m in folded.modules())
    assert sum(c.kernel_size == (3, 3) for c in convs) == 3 * 6 + 3 and len(convs) == 3 * 6 + 4
    assert folded.folded() is folded and fold_for_inference(build_model("edsr", {"n_blocks": 1})).arch == "edsr"


def test_folding_is_exact_at_the_border_and_unfolding_is_lossless():
    torch.manual_seed(0)
    branch = BranchConv(5, 7).double()  # float64: what is left is the equivalence, not fp32 rounding
    with torch.no_grad():
        for p in branch.parameters():
            p.add_(torch.randn_like(p))  # large biases: padding must not break the equivalence
        x = torch.randn(2, 5, 9, 6, dtype=torch.float64)
        y, yf = branch(x), branch.fold()(x)
    assert y[..., 0, :].abs().mean() > 1  # the border carries signal
    torch.testing.assert_close(yf, y, rtol=1e-12, atol=1e-12)
    branch = branch.float()
    again = branch.fold().unfolded().fold()
    assert isinstance(again, FoldedConv) and torch.equal(again.eval_conv.weight, branch.fold().eval_conv.weight)
    assert torch.equal(again.eval_conv.bias, branch.fold().eval_conv.bias)


CASES = {  # fixture -> (srkd arch, hyperparameters spandrel's network had)
    "span_x4": ("span", dict(scale=4, feature_channels=4, n_blocks=6, norm=True, branches=True)),
    "span_nonorm_x2": ("span", dict(scale=2, feature_channels=4, n_blocks=6, norm=False, branches=True)),
    "span_folded_x3": ("span", dict(scale=3, feature_channels=4, n_blocks=6, norm=True, branches=False)),
    "compact_x4": ("compact", dict(scale=4, num_feat=4, num_conv=2, act="prelu")),
    "compact_x3": ("compact", dict(scale=3, num_feat=6, num_conv=3, act="prelu")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_public_layouts_built_by_spandrel_are_read(tmp_path, case):
    arch, hp = CASES[case]
    sd = load_file(str(FIXTURES / f"{case}.safetensors"))
    outputs = load_file(str(FIXTURES / "outputs.safetensors"))
    if arch == "compact":  # Real-ESRGAN's releases: BasicSR's params_ema / params
        path = tmp_path / "net.pth"
        torch.save({"params_ema" if case.endswith("4") else "params": sd}, path)
    elif hp["branches"]:
        path = tmp_path / "span.pth"
        torch.save(sd, path)
    else:  # a bare safetensors file without srkd metadata
        path = FIXTURES / f"{case}.safetensors"
    model, spec = load_model(path)
    assert spec.arch == arch and {k: spec.hparams[k] for k in hp} == hp, spec.hparams
    if arch == "span" and hp["norm"]:
        assert spec.value_range == (0.0, 255.0)  # not in the file: the release's (and spandrel's) 255
    else:
        assert spec.value_range == (0.0, 1.0) and spec.value_range_source == "weights"
    with torch.no_grad():
        y = model(outputs["input"])
    assert y.shape == outputs[case].shape and psnr_db(y, outputs[case]) >= 80


def test_layouts_that_do_not_fit_are_refused(tmp_path):
    sd = load_file(str(FIXTURES / "compact_x4.safetensors"))
    no_prelu = {k: v for k, v in sd.items() if int(k.split(".")[1]) % 2 == 0}
    torch.save(no_prelu, tmp_path / "relu.pth")
    with pytest.raises(CheckpointError, match="relu.pth.*PReLU"):
        load_model(tmp_path / "relu.pth")
    span = load_file(str(FIXTURES / "span_folded_x3.safetensors"))
    span["block_1.c1_r.sk.weight"] = torch.zeros(4, 4, 1, 1)
    torch.save(span, tmp_path / "mixed.pth")
    with pytest.raises(CheckpointError, match="mixed.pth"):
        load_model(tmp_path / "mixed.pth")
    torch.save({"params_ema": sd}, tmp_path / "compact.pth")
    with pytest.raises(CheckpointError, match="compact.pth: compact has no input-range setting"):
        load_model(tmp_path / "compact.pth", input_range=255)


@pytest.mark.parametrize("arch,hp", [("span", dict(scale=4, feature_channels=6, norm=True)),
                                     ("span", dict(scale=3, feature_channels=6, branches=False)),
                                     ("span", dict(scale=2, feature_channels=6)),
                                     ("compact", dict(scale=4, num_feat=6, num_conv=2))])
def test_the_spandrel_file_reads_back_the_same(tmp_path, photo, arch, hp):
    model = perturbed(arch, **hp)
    path = save_spandrel(tmp_path / "s.pth", model)
    sd = torch.load(path, weights_only=True)
    if arch == "span":  # what spandrel's detection needs: the branches and their fold, side by side
        assert {"conv_1.sk.weight", "block_1.c1_r.eval_conv.weight", "conv_2.eval_conv.weight"} <= set(sd)
        assert ("no_norm" in sd) == (not model.norm) and sum(k.startswith("block_6.") for k in sd) > 0
    loaded, spec = load_model(path)
    assert spec.arch == arch and spec.hparams["branches" if arch == "span" else "act"] in (True, "prelu")
    x = real_lr(photo, 24)
    with torch.no_grad():
        assert psnr_db(loaded(x), model(x)) >= 80


def test_only_what_spandrel_can_express_is_written():
    assert spandrel_problem(build_model("span", {"feature_channels": 4})) is None
    assert spandrel_problem(build_model("compact", {"num_feat": 4, "num_conv": 1})) is None
    for arch, hp, why in (("span", {"n_blocks": 4}, "n_blocks=4.*6 blocks"),
                          ("span", {"img_range": 1.0, "norm": True}, "img_range=1.*DIV2K mean and 255"),
                          ("compact", {"act": "relu"}, "act=relu.*PReLU"),
                          ("edsr", {"n_blocks": 1}, "edsr is not an architecture")):
        with pytest.raises(ConfigError, match=f"{why}.*spandrel 0.4.2 loads SPAN with 6 blocks"):
            spandrel_state_dict(build_model(arch, hp))
    assert spandrel_problem(build_model("span", {"img_range": 1.0})) is None  # without norm the range is unused


def test_published_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(build_model("span", {"feature_channels": 48}).folded()) == 426_288  # SPAN x4, deployed
    assert count(build_model("span", {"feature_channels": 28}).folded()) == 150_688
    assert count(build_model("compact", {"num_feat": 64, "num_conv": 32})) == 1_213_296  # realesr-general-x4v3
    assert count(build_model("compact", {"num_feat": 64, "num_conv": 16})) == 621_424  # realesr-animevideov3


@pytest.mark.parametrize("act", ["prelu", "relu", "leakyrelu"])
def test_a_deep_compact_starts_trainable(photo, act):
    """At init the residual must depend on the input well above bf16's rounding of the features: with
    PyTorch's default conv init a 16-conv Compact's did at ~1e-7 and kd training never left nearest upsampling."""
    torch.manual_seed(0)
    model = build_model("compact", {"num_feat": 32, "num_conv": 16, "act": act}).eval()
    a, b = real_lr(photo), real_lr(np.ascontiguousarray(photo[::-1, ::-1]))
    with torch.no_grad():
        near = lambda x: torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")  # noqa: E731
        res_a, res_b = model(a) - near(a), model(b) - near(b)
    moved = float((res_a - res_b).std())
    assert 3e-3 < moved < 0.2, moved  # the input reaches the output; the residual starts small
    assert abs(float(res_a.mean())) < 0.05
    # inner convs start near the identity with small weights (He weights learnt 64x8 0.36 dB slower)
    for conv in [block[0] for block in model.blocks]:
        off = conv.weight.detach() - torch.nn.init.dirac_(torch.empty_like(conv.weight))
        assert float(off.std()) < 0.02 and float(conv.bias.detach().abs().max()) == 0
