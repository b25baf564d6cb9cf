"""``srkd bench``."""
from __future__ import annotations

import json

import click


def parse_sizes(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[int, ...]:
    """Click callback: ``"64,128,256"`` -> (64, 128, 256); an empty string -> ()."""
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated integers, e.g. 64,128,256") from None
    if any(s < 1 for s in sizes):
        raise click.BadParameter(f"{value!r}: sizes must be positive")
    return sizes


def host_line(host: dict) -> str:
    """``CPU: ... (N logical), torch threads T[, GPU: ...]`` for a host_info() dict."""
    line = f"CPU: {host['cpu']} ({host['logical_cpus']} logical), torch threads {host['torch_threads']}"
    return line + (f", GPU: {host['gpu']}" if host.get("gpu") else "")


def latency_rows(results: list[dict]) -> list[str]:
    """Table lines for result dicts with backend, precision, threads, size, p50/p95/p99 and MP/s."""
    lines = [f"{'backend':<12} {'prec':<5} {'thr':>3} {'size':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'MP/s':>8}"]
    for r in results:
        lines.append(f"{r['backend']:<12} {r['precision']:<5} {r['threads']:>3} {r['size']:>5} {r['p50_ms']:>9.2f} "
                     f"{r['p95_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['mp_per_s']:>8.3f}")
    return lines


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--sizes", default="64,128,256", show_default=True, callback=parse_sizes,
              help="Square LR input sizes in pixels, comma-separated.")
@click.option("--runs", type=click.IntRange(1), default=20, show_default=True, help="Timed runs per size.")
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True, help="Untimed runs per size first.")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Images per call.")
@click.option("--backend", type=click.Choice(["all", "torch", "onnxruntime", "openvino", "tensorrt"]), default="all",
              show_default=True, help="Which artifacts to time (all: those that can run here; TensorRT needs a GPU).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="CPU threads for torch, ONNX Runtime and OpenVINO (default: their own defaults).")
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

    from srkd.errors import BackendUnavailableError
    from srkd.export.bundle import load_bundle, unrunnable_backends
    from srkd.export.latency import host_info, measure_latency
    from srkd.export.manifest import json_safe
    from srkd.cli.common import check_output_file, write_output

    check_output_file(json_out, flag="--json")
    if threads:
        torch.set_num_threads(threads)
    if not sizes:
        raise click.BadParameter("give at least one size", param_hint="--sizes")
    loaded = load_bundle(bundle)
    entries = [a for a in loaded.artifacts if backend in ("all", a["backend"])]
    skipped = []
    if backend == "all":
        cannot = unrunnable_backends()
        skipped = [f"{a['file']} ({cannot[a['backend']]})" for a in entries if a["backend"] in cannot]
        entries = [a for a in entries if a["backend"] not in cannot]
    results = []
    host = {k: v for k, v in host_info().items() if k != "threads"}  # per-backend threads go with each row
    for entry in entries:
        try:  # an artifact that cannot start here (missing runtime, engine built elsewhere) is listed, not fatal
            runner = loaded.runner(entry, device=device, threads=threads, ort_ep=ort_ep).activate()
        except BackendUnavailableError as exc:
            skipped.append(f"{entry['file']} ({exc})")
            continue
        with runner:
            lat = measure_latency(runner, sizes=sizes, runs=runs, warmup=warmup, batch=batch)
        host = {**host, **{k: v for k, v in lat.host.items() if v is not None and k != "threads"}}
        for row in lat.sizes:
            results.append({"file": entry["file"], "backend": entry["backend"], "precision": entry["precision"],
                            "threads": lat.host["threads"], **row.to_dict()})
    if skipped and not results and backend != "all":
        raise BackendUnavailableError(f"{bundle}: no {backend} artifact can run here: {'; '.join(skipped)}")
    payload = {"bundle": str(bundle), "model": {k: loaded.manifest["model"].get(k) for k in ("arch", "scale", "hparams")},
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
