"""``srkd bench``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import (BackendChoice, check_output_file, host_line, latency_rows, runs_option, sizes_option,
    threads_option, write_output)


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@sizes_option()
@runs_option(default=20)
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True, help="Untimed runs per size first.")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Images per call.")
@click.option("--backend", type=BackendChoice("all"), default="all",
              show_default=True, help="Which artifacts to time (all: those that can run here; TensorRT needs a GPU).")
@threads_option()
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="Where torch (and ONNX Runtime, with onnxruntime-gpu) run.")
@click.option("--ort-ep", type=click.Choice(["cpu", "cuda", "tensorrt"]), default=None,
              help="ONNX Runtime execution provider (default: cuda with --device cuda, else cpu; GPU ones experimental).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON here ('-' for stdout only).")
def command(bundle: str, sizes: tuple[int, ...], runs: int, warmup: int, batch: int, backend: str,
            threads: int | None, device: str, ort_ep: str | None, json_out: str | None) -> None:
    """Latency of the artifacts of BUNDLE: p50/p95/p99 ms and output megapixels/s per input size
    (warm-up excluded), with the CPU model and thread count the numbers were taken with."""
    import torch

    from srkd.backends import unrunnable_backends
    from srkd.bundle.reader import load_bundle
    from srkd.errors import BackendUnavailableError
    from srkd.export.latency import host_info, measure_latency
    from srkd.fsutil import json_safe

    check_output_file(json_out, flag="--json")
    if threads:
        torch.set_num_threads(threads)
    if not sizes:
        raise click.BadParameter("give at least one size", param_hint="--sizes")
    loaded = load_bundle(bundle)
    entries = [a for a in loaded.artifacts if backend in ("all", a.backend)]
    skipped = []
    if backend == "all":
        cannot = unrunnable_backends()
        skipped = [f"{a.file} ({cannot[a.backend]})" for a in entries if a.backend in cannot]
        entries = [a for a in entries if a.backend not in cannot]
    results = []
    host = {k: v for k, v in host_info().items() if k != "threads"}  # per-backend threads go with each row
    for entry in entries:
        try:  # an artifact that cannot start here (missing runtime, engine built elsewhere) is listed, not fatal
            runner = loaded.runner(entry, device=device, threads=threads, ort_ep=ort_ep).activate()
        except BackendUnavailableError as exc:
            skipped.append(f"{entry.file} ({exc})")
            continue
        with runner:
            lat = measure_latency(runner, sizes=sizes, runs=runs, warmup=warmup, batch=batch)
        host = {**host, **{k: v for k, v in lat.host.items() if v is not None and k != "threads"}}
        for row in lat.sizes:
            results.append({"file": entry.file, "backend": entry.backend, "precision": entry.precision,
                            "threads": lat.host["threads"], **row.to_dict()})
    if skipped and not results and backend != "all":
        raise BackendUnavailableError(f"{bundle}: no {backend} artifact can run here: {'; '.join(skipped)}")
    spec = loaded.spec
    payload = {"bundle": str(bundle), "model": {"arch": spec.arch, "scale": spec.scale, "hparams": spec.hparams},
               "host": host, "results": results, "skipped": skipped}
    text = json.dumps(json_safe(payload), indent=2)
    if json_out == "-":
        click.echo(text)
        return
    click.echo(f"{bundle}: {loaded.spec.arch} x{loaded.spec.scale}; {host_line(host)}")
    for line in latency_rows(results):
        click.echo("  " + line)
    for line in skipped:
        click.echo(f"skipped: {line}")
    if json_out:
        write_output(json_out, text + "\n", flag="--json")
