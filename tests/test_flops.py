"""benchmarks/flops.py: FLOP counting by forward hooks, and the machine's measured GFLOP/s."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch import nn

from srkd.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from flops import PEAK_KEYS, conv_flops, measure_peaks  # noqa: E402


def test_single_conv_exact():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert conv_flops(conv, height=16, width=20) == 2 * 3 * 9 * 8 * 16 * 20
    assert not conv._forward_hooks  # hooks removed


def test_grouped_conv_and_linear():
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    assert conv_flops(grouped, height=10, width=12, channels=8) == 2 * 2 * 9 * 8 * 10 * 12
    linear = nn.Linear(20, 5)  # applied over the last axis: 1 * 3 * 16 tokens
    assert conv_flops(linear, height=16, width=20) == 2 * 20 * 5 * 3 * 16


def test_edsr_counts_and_scaling():
    torch.manual_seed(0)
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 2})
    model.train()
    hw = 16 * 20
    expected = 2 * 9 * hw * (3 * 8 + 5 * 8 * 8 + 8 * 32) + 2 * 9 * 8 * 3 * hw * 4  # head, body, upsampler, tail (at HR)
    small = conv_flops(model, height=16, width=20)
    assert small == expected > 0
    assert conv_flops(model, height=32, width=40) == 4 * small
    assert model.training and not any(m._forward_hooks for m in model.modules())


def test_other_dtype_is_copied_not_converted():
    model = build_model("edsr", {"scale": 2, "n_feats": 8, "n_blocks": 1}).to(torch.bfloat16)
    assert conv_flops(model, height=8, width=8) > 0
    assert next(model.parameters()).dtype == torch.bfloat16


def test_measure_peaks_restores_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        peaks = measure_peaks(threads=1, seconds=0.05)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert list(peaks) == list(PEAK_KEYS)
    assert all(math.isfinite(v) and v > 0 for v in peaks.values())
