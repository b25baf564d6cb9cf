"""``srkd upscale`` overheads, measured side by side in one run: folder vs bare model, tiled vs untiled.

Conditions (issue 9): the demo student (EDSR n_feats=32, n_blocks=4, x4; seeded random weights
unless --model names a trained one: the timing does not depend on the weights), a folder of 20 real
photos of 200-500 px (T91/BSD200 from ../shared/data/train, else scikit-image's photos), PNG
compression level 1, the same torch thread count for both sides.

1. folder / bare throughput: images per second of the whole batch runner (decode, infer, encode,
   atomic write, reader/writer threads) over the folder, divided by images per second of the bare
   runner on the same images already in memory. Goal >= 0.9.
2. tiled / untiled time: one 1024x1024 LR image (a real photo resized) run whole, and with 512 px
   tiles and 16 px of context on each side (4 windows of 544 px, cross-faded). The overlap alone
   costs (544/512)^2 = 1.13x. Goal <= 1.15.

    python benchmarks/upscale.py                 # the full conditions
    python benchmarks/upscale.py --quick         # a smoke run (4 photos, a 640 px image, one repeat)
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from srkd.api import Upscaler
from srkd.backends.pytorch.runner import TorchRunner
from srkd.data.io import list_images, read_image, write_image
from srkd.models import build_model, describe
from srkd.models.checkpoint import load_model
from srkd.serve.encode import EncodeOptions
from srkd.serve.pipeline import RunOptions, run_batch
from srkd.serve.plan import Naming, plan_jobs
from srkd.serve.report import BatchReport
from srkd.serve.task import prepare
from srkd.serve.tiler import TileGrid, TileSettings

SHARED_TRAIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "train"


def photos(n: int, folder: Path) -> list[Path]:
    """``n`` real photos with both sides in 200..500 px, copied into ``folder`` as PNG."""
    found = []
    if SHARED_TRAIN.is_dir():
        for path in list_images(SHARED_TRAIN, recursive=True):
            img = read_image(path)
            if 200 <= min(img.shape[:2]) and max(img.shape[:2]) <= 500:
                found.append((path.stem, img))
            if len(found) == n:
                break
    if len(found) < n:
        from skimage import data

        for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"):
            img = np.asarray(getattr(data, name)())[:, :, :3]
            for k in range(4):
                crop = img[k * 40: k * 40 + 300, k * 30: k * 30 + 400]
                found.append((f"{name}{k}", np.ascontiguousarray(crop)))
    out = []
    for stem, img in found[:n]:
        write_image(folder / f"{stem}.png", img)
        out.append(folder / f"{stem}.png")
    return out


def student(model: str | None) -> Upscaler:
    if model:
        net, spec = load_model(model)
    else:
        torch.manual_seed(0)
        net = build_model("edsr", {"scale": 4, "n_feats": 32, "n_blocks": 4}).eval()
        spec = describe(net)
    return Upscaler(TorchRunner(net, spec=spec), tiles=TileSettings(tile=512, overlap=16))


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_seconds(up: Upscaler, files: list[Path], repeats: int) -> float:
    """The runner alone on every image, already decoded and converted, one call per image."""
    xs = [prepare(read_image(f, rgb=False), in_channels=3).planes[0] for f in files]
    return timed(lambda: [up.runner.infer(x) for x in xs], repeats)


def folder_seconds(up: Upscaler, src: Path, out: Path, repeats: int) -> float:
    plan = plan_jobs([src], naming=Naming(scale="4"), out=out)
    opts = RunOptions(overwrite=True, encode=EncodeOptions(png_level=1))

    def go() -> None:
        report = run_batch(plan, upscaler=up, report=BatchReport(model="bench", runner=up.name, scale=4), options=opts)
        assert report.counts["ok"] == len(plan.jobs), report.failed

    return timed(go, repeats)


def tile_ratio(up: Upscaler, side: int, repeats: int) -> tuple[float, float]:
    from skimage import data

    img = cv2.resize(np.asarray(data.astronaut()), (side, side), interpolation=cv2.INTER_CUBIC)
    whole = Upscaler(up.runner, tiles=TileSettings(tile=None))
    tiled = Upscaler(up.runner, tiles=TileSettings(tile=512, overlap=16))
    return timed(lambda: whole.upscale(img), repeats), timed(lambda: tiled.upscale(img), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="A trained student file (default: the demo architecture, seeded).")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--side", type=int, default=1024, help="LR side of the tiling test image.")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for both sides.")
    ap.add_argument("--quick", action="store_true", help="A smoke run: 4 photos, a 640 px image, one repeat.")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeats, args.side = 4, 1, 640
    torch.set_num_threads(args.threads)
    up = student(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        files = photos(args.images, Path(tmp) / "in")
        sizes = [read_image(f).shape[:2] for f in files]
        print(f"{len(files)} photos, {min(map(min, sizes))}-{max(map(max, sizes))} px; {up.spec.arch} x{up.scale}; "
              f"torch threads {torch.get_num_threads()}; {args.repeats} timed repeats (median)", flush=True)
        bare = bare_seconds(up, files, args.repeats)
        folder = folder_seconds(up, Path(tmp) / "in", Path(tmp) / "out", args.repeats)
    print(f"bare model:   {len(files) / bare:7.3f} images/s ({bare:.2f} s)")
    print(f"folder run:   {len(files) / folder:7.3f} images/s ({folder:.2f} s), PNG level 1")
    print(f"folder / bare throughput: {bare / folder:.3f}  (goal >= 0.9)")
    whole, tiled = tile_ratio(up, args.side, args.repeats)
    grid = TileGrid.plan(args.side, args.side, scale=up.scale, settings=TileSettings(tile=512, overlap=16))
    cost = len(grid) * grid.win[0] * grid.win[1] / args.side ** 2  # pixels the windows hold / image pixels
    print(f"{args.side}x{args.side} LR: whole {whole:.2f} s, 512 px tiles + 16 px overlap {tiled:.2f} s")
    print(f"tiled / untiled time: {tiled / whole:.3f}  (goal <= 1.15; the overlap alone: {cost:.3f})")


if __name__ == "__main__":
    main()
