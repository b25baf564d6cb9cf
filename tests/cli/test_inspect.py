"""``srkd inspect``: what was detected, and whether the input range is a guess."""
import json

import torch
from conftest import run_srkd

from srkd.models import build_model


def test_inspect_foreign_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("imdn", {"scale": 3, "n_feats": 16, "n_blocks": 2})
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "imdn.pth")
    out = run_srkd("inspect", tmp_path / "imdn.pth")
    assert out.returncode == 0, out.stderr
    n = sum(p.numel() for p in model.parameters())
    for text in ("architecture   imdn", "scale          x3", f"parameters     {n:,}", "channels       3 -> 3",
                 "input range    [0, 1] (GUESSED", "size           min 1, multiple of 1", "kd, augkd, mipkd"):
        assert text in out.stdout
    info = json.loads(run_srkd("inspect", tmp_path / "imdn.pth", "--json", "--input-range", "255").stdout)
    assert info["value_range"] == [0.0, 255.0] and info["value_range_source"] == "user"
    assert not info["value_range_guessed"] and info["teacher_methods"] == ["kd", "augkd", "mipkd"]
    assert info["hparams"]["n_blocks"] == 2 and info["params"] == n


def test_inspect_unknown_layout_is_one_line(tmp_path):
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "odd.pth")
    out = run_srkd("inspect", tmp_path / "odd.pth")
    assert out.returncode == 1 and "unrecognised state-dict layout" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_inspect_span_counts_the_folded_network_and_says_what_spandrel_gets(tmp_path):
    from srkd.models.checkpoint import save_model

    model = build_model("span", {"scale": 2, "feature_channels": 4, "n_blocks": 5})
    save_model(tmp_path / "span.safetensors", model)
    out = run_srkd("inspect", tmp_path / "span.safetensors")
    assert out.returncode == 0, out.stderr
    n, folded = (sum(p.numel() for p in m.parameters()) for m in (model, model.folded()))
    assert f"parameters     {n:,} ({folded:,} exported: branches folded)" in out.stdout
    assert "for spandrel   n_blocks=5 (spandrel's SPAN always has 6 blocks)" in out.stdout
