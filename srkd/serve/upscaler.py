"""``Upscaler`` (a runner plus tiling and batching, numpy images in and out) and ``load``, behind the
Python API ``srkd.load(model).upscale(image)``.

>>> up = srkd.load("edsr-x4")                    # or a bundle folder, a student .safetensors/.pth, an srkd .onnx
>>> big = up.upscale(img)                        # HxWx3 / HxW / HxWx4, uint8 or uint16 -> same kind
"""
from __future__ import annotations

import os

import numpy as np

from srkd.backends.runner import Runner
from srkd.models.spec import ModelSpec
from srkd.serve.engine import Engine
from srkd.serve.loader import open_model
from srkd.serve.task import ImageOptions, finish, prepare
from srkd.serve.tiler import TileSettings, fixed_tiles, infer_tiled


class Upscaler:
    """An active Runner plus tiling and batching; ``upscale`` maps numpy images to numpy images of the same kind."""

    def __init__(self, runner: Runner, *, tiles: TileSettings = TileSettings(), label: str = "",
                 image: ImageOptions = ImageOptions(), batch: int = 1) -> None:
        self.runner = runner.activate()
        self.tiles, self.image, self.batch = tiles, image, batch
        self.label = label or runner.spec.arch
        self._engine: Engine | None = None

    @property
    def spec(self) -> ModelSpec:
        return self.runner.spec

    @property
    def scale(self) -> int:
        """The model's upscaling factor."""
        return self.spec.scale

    @property
    def name(self) -> str:
        """What runs the model, e.g. ``torch:fp32``."""
        return self.runner.name

    def engine(self, *, batch: int | None = None) -> Engine:
        """A fresh Engine over this runner with this upscaler's tiling (for running many images at once)."""
        from srkd.serve.memory import profile_batch

        batch = batch or self.batch
        cap = profile_batch(self.runner)
        return Engine(self.runner.infer, scale=self.scale, size_req=self.runner.size_req, tiles=self.tiles,
                      batch=min(batch, cap) if cap else batch)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Float32 NCHW [0, 1] in, float32 NCHW out (unclipped), tiled as configured."""
        return infer_tiled(self.runner.infer, x, scale=self.scale, settings=self.tiles, size_req=self.runner.size_req,
                           batch=self.batch)

    def upscale(self, image: np.ndarray, *, alpha: str | None = None, outscale: float | None = None) -> np.ndarray:
        """Upscale an HxWx3 RGB, HxWx4 RGBA, HxWx1 or HxW grey image by ``scale`` (or to ``outscale``).

        uint8 and uint16 come back in the same dtype (rounded); float arrays are read as [0, 1] and
        come back as float32 clipped to [0, 1]. ``alpha``: ``bicubic`` or ``model`` (default: as loaded).
        """
        squeeze = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 1
        options = ImageOptions(alpha=alpha or self.image.alpha, outscale=outscale)
        task = prepare(image[:, :, 0] if squeeze else image, in_channels=self.spec.in_channels, options=options)
        if self._engine is None:  # kept, so a tile size learnt from an out-of-memory error sticks
            self._engine = self.engine()
        (done,) = self._engine.run([task])
        if done.error is not None:
            raise done.error
        out = finish(task, done.outputs, scale=self.scale, options=options)
        return out[:, :, None] if squeeze else out

    def close(self) -> None:
        """Release the backend's session/engine."""
        self.runner.deactivate()

    def __enter__(self) -> "Upscaler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Upscaler({self.label!r}, x{self.scale}, {self.name}, tile={self.tiles.tile})"


def load(
    model: str | os.PathLike | None = None, *, backend: str = "auto", device: str = "auto",
    tile: int | str | None = "auto", tile_overlap: int = 16, precision: str = "auto", batch: int = 1,
    alpha: str = "bicubic", threads: int | None = None,
) -> Upscaler:
    """Load ``model`` (bundle folder, student file, srkd .onnx, shipped name; default the shipped model).

    ``backend``: auto | torch | onnxruntime | openvino | tensorrt (auto: the fastest artifact of a
    bundle that passed parity); ``device``: auto | cpu | cuda; ``tile``: ``"auto"`` (from the memory
    budget), a tile side in input pixels, or None/0 for whole images, with ``tile_overlap`` pixels of
    cross-faded context on each side (a fixed-shape artifact, LiteRT's, always tiles: windows of its side,
    the tile at most its side less the overlaps); ``batch``: windows per model call; ``alpha``: bicubic | model.
    """
    if model is None:
        from srkd.zoo import DEFAULT_MODEL

        model = DEFAULT_MODEL
    runner = open_model(model, backend=backend, device=device, precision=precision, threads=threads).activate()
    if runner.fixed_side is not None:  # a fixed-shape artifact: windows of exactly its side
        tiles = fixed_tiles(runner.fixed_side, overlap=tile_overlap, tile=None if tile == "auto" else tile)
        return Upscaler(runner, tiles=tiles, label=str(model), image=ImageOptions(alpha=alpha), batch=batch)
    if tile == "auto":
        from srkd.serve.memory import auto_tile

        tile = auto_tile(runner, overlap=tile_overlap, batch=batch)
    tiles = TileSettings(tile=int(tile) if tile else None, overlap=tile_overlap)
    return Upscaler(runner, tiles=tiles, label=str(model), image=ImageOptions(alpha=alpha), batch=batch)
