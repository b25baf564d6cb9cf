"""``srkd gate``."""
from __future__ import annotations

import json

import click

from srkd.cli.common import check_output_file, parse_sizes, runs_option, sizes_option, threads_option, write_output


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def gate_rows(rows: list) -> list[str]:
    """Table lines for GateRow objects."""
    lines = [f"{'artifact':<44} {'metric':<26} {'baseline':>9} {'now':>9}  {'limit':<22} status"]
    for r in rows:
        lines.append(f"{r.artifact:<44} {r.metric:<26} {_fmt(r.baseline):>9} {_fmt(r.current):>9}  {r.limit[:22]:<22} {r.status}")
    return lines


@click.command()
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="Baseline JSON file.")
@click.option("--update", is_flag=True, help="Measure and write the baseline instead of comparing against it.")
@click.option("--max-slowdown", type=click.FloatRange(1.0), default=1.15, show_default=True,
              help="Largest allowed growth of latency relative to the reference workload.")
@click.option("--max-psnr-drop", type=click.FloatRange(0.0), default=0.05, show_default=True,
              help="Largest allowed drop of PSNR vs HR, dB.")
@click.option("--data", default=None, help="HR images for the accuracy part (default: the baseline's, else scikit-image photos).")
@click.option("--images", type=click.IntRange(1), default=None, help="Use the first N images (default: the baseline's, else 3).")
@sizes_option(default=None, help="LR sizes to time (default: the baseline's, else 64).")
@runs_option(default=None, help="Timed runs per size (default: the baseline's, else 10).")
@threads_option(help="CPU threads for torch, ONNX Runtime, OpenVINO and the reference workload (default: the baseline's, else 1).")
@click.option("--benchmark-json", type=click.Path(dir_okay=False), default=None,
              help="Write github-action-benchmark customSmallerIsBetter JSON here.")
@click.option("--strict", is_flag=True,
              help="Fail (exit 1) when the bundle has an artifact the baseline lacks (default: report it as new, "
                   "not gated).")
def command(bundle: str, baseline: str, update: bool, max_slowdown: float, max_psnr_drop: float, data: str | None,
            images: int | None, sizes: str | None, runs: int | None, threads: int | None, benchmark_json: str | None,
            strict: bool) -> None:
    """Fail (exit 1) when BUNDLE's accuracy or latency regressed against the --baseline file.

    Latency counts as the ratio to a fixed reference workload timed in the same run, so the gate
    holds on noisy shared runners; accuracy is PSNR against HR on real images plus each artifact's
    parity. --update writes the baseline. The comparison reuses the baseline's images and sizes. A
    baseline that is not one (wrong format, no artifacts) is an error before anything is measured; an
    artifact the baseline lacks is reported as new and not gated (an error with --strict)."""
    from pathlib import Path

    from srkd.backends import unrunnable_backends
    from srkd.export.gate import GateError, benchmark_entries, compare, measure_gate, read_baseline
    from srkd.fsutil import json_safe

    check_output_file(benchmark_json, flag="--benchmark-json")
    if update:
        check_output_file(baseline, flag="--baseline")
    base = None if update else read_baseline(baseline)
    prior = (base or {}).get("settings", {})
    size_list = parse_sizes(None, None, sizes) if sizes is not None else tuple(prior.get("sizes", (64,)))
    skip = unrunnable_backends()
    current = measure_gate(bundle, data=data or prior.get("data"), images=images or prior.get("images", 3),
                           crop=prior.get("crop", 256), sizes=size_list, runs=runs or prior.get("runs", 10),
                           threads=threads or prior.get("threads") or 1, skip=skip)
    ref = current["reference"]
    per = ", ".join(f"{backend} {ms:.2f} ms" for backend, ms in ref["min_ms"].items())
    click.echo(f"{bundle}: reference workload {per} ({ref['workload']})")
    for key, why in current.get("skipped", {}).items():
        click.echo(f"skipped {key}: {why}")
    if benchmark_json:
        write_output(benchmark_json, json.dumps(json_safe(benchmark_entries(current)), indent=2) + "\n",
                     flag="--benchmark-json")
    if update:
        write_output(baseline, json.dumps(json_safe(current), indent=2) + "\n", flag="--baseline")
        click.echo(f"baseline written: {Path(baseline)} ({len(current['artifacts'])} artifacts)")
        return
    rows = compare(base, current, max_slowdown=max_slowdown, max_psnr_drop=max_psnr_drop)
    for line in gate_rows(rows):
        click.echo("  " + line)
    bad = [r for r in rows if r.regressed]
    new = [r.artifact for r in rows if r.new]
    if new:
        click.echo(f"  new, not gated: {', '.join(new)} (not in {baseline}; `--update` adds them)")
    if bad:
        raise GateError(f"{bundle}: {len(bad)} regression(s) against {baseline}: "
                        + "; ".join(f"{r.artifact} {r.metric} {_fmt(r.baseline)} -> {_fmt(r.current)} ({r.limit})" for r in bad))
    if new and strict:
        raise GateError(f"{bundle}: {len(new)} artifact(s) not in the baseline {baseline} ({', '.join(new)}); "
                        "--strict needs every artifact gated: update the baseline with --update")
    click.echo(f"gate passed: {len([r for r in rows if not r.new])} figures within limits (slowdown <= x{max_slowdown:g}, PSNR drop <= {max_psnr_drop:g} dB)")
