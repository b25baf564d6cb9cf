"""PNG heatmaps of where an artifact's output departs from the torch fp32 reference."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from srkd.fsutil import atomic_path


def heatmap_name(file: str, precision: str, backend: str) -> str:
    """A file name for the heatmap of one artifact, e.g. ``model.int8.onnx-onnxruntime-int8.png``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{file}-{backend}-{precision}") + ".png"


def write_heatmap(path: str | os.PathLike, error: np.ndarray, *, title: str) -> Path:
    """Write ``error`` (HxW, |candidate - reference| in [0, 1] units) as a colour-mapped PNG with a
    colour bar in 8-bit levels; non-finite values show at the top of the scale."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    levels = np.nan_to_num(np.asarray(error, dtype=np.float64), nan=np.inf) * 255.0
    finite = levels[np.isfinite(levels)]
    top = max(float(finite.max()) if finite.size else 1.0, 1e-3)
    levels = np.where(np.isfinite(levels), levels, top)
    h, w = levels.shape
    fig = Figure(figsize=(max(3.0, 5.0 * w / max(h, w)) + 1.2, max(3.0, 5.0 * h / max(h, w)) + 0.6), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(levels, cmap="magma", vmin=0.0, vmax=top, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="|diff| in 8-bit levels")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
