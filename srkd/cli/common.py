"""Option groups and helpers shared by several commands: devices, input range, ``--sizes/--runs/--threads``,
backend choices (from the registry, read when a command runs), and the parity and latency tables."""
from __future__ import annotations

from typing import Any, Sequence

import click

from srkd.device import pick_device

device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run torch: auto takes CUDA when present.",
)


def _parse_range(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip().replace(" ", "")
    for prefix in ("0-", "0,", "[0,"):
        text = text.removeprefix(prefix)
    text = text.rstrip("]")
    if text in ("1", "1.0"):
        return 1.0
    if text in ("255", "255.0"):
        return 255.0
    raise click.BadParameter(f"{value!r}: expected 1 (for [0, 1]) or 255 (for [0, 255])")


input_range_option = click.option(
    "--input-range", "input_range", metavar="1|255", default=None, callback=_parse_range,
    help="Value range the network was trained on, [0, 1] or [0, 255], when the weights do not say "
         "(default: read from the file, else guessed by trying both on a photo).",
)


def parse_sizes(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[int, ...]:
    """Click callback: ``"64,128,256"`` -> (64, 128, 256); an empty string -> ()."""
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated integers, e.g. 64,128,256") from None
    if any(s < 1 for s in sizes):
        raise click.BadParameter(f"{value!r}: sizes must be positive")
    return sizes


def sizes_option(*, default: str | None = "64,128,256", help: str = "Square LR input sizes in pixels, comma-separated."):
    """``--sizes 64,128,256`` (parsed to a tuple; with ``default=None`` left as text for the command)."""
    if default is None:
        return click.option("--sizes", default=None, help=help)
    return click.option("--sizes", default=default, show_default=True, callback=parse_sizes, help=help)


def runs_option(*, default: int | None = 10, help: str = "Timed runs per size."):
    """``--runs N`` (>= 1)."""
    return click.option("--runs", type=click.IntRange(1), default=default, show_default=default is not None, help=help)


def threads_option(*, help: str = "Intra-op threads of every runtime (torch, ONNX Runtime, OpenVINO) [default: their own]."):
    """``--threads N`` (1..256; None: each runtime's own default)."""
    return click.option("--threads", type=click.IntRange(1, 256), default=None, help=help)


class BackendChoice(click.Choice):
    """``click.Choice`` over the registered backends, read when the command runs (so a backend registered
    after the CLI was imported, e.g. by a plug-in or a test, is a valid choice), after ``first`` choices."""

    def __init__(self, *first: str) -> None:
        self.first = first
        super().__init__([], case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        from srkd.backends import backend_names

        return (*self.first, *backend_names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click.Choice.__init__ assigns; the registry decides
        pass


def host_line(host: dict[str, Any]) -> str:
    """``CPU: ... (N logical), torch threads T[, GPU: ...]`` for a host_info() dict."""
    line = f"CPU: {host['cpu']} ({host['logical_cpus']} logical), torch threads {host['torch_threads']}"
    return line + (f", GPU: {host['gpu']}" if host.get("gpu") else "")


def latency_rows(results: list[dict[str, Any]]) -> list[str]:
    """Table lines for result dicts with backend, precision, threads, size, p50/p95/p99 and MP/s."""
    lines = [f"{'backend':<12} {'prec':<5} {'thr':>3} {'size':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'MP/s':>8}"]
    for r in results:
        lines.append(f"{r['backend']:<12} {r['precision']:<5} {r['threads']:>3} {r['size']:>5} {r['p50_ms']:>9.2f} "
                     f"{r['p95_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['mp_per_s']:>8.3f}")
    return lines


def _db(value: float | None) -> str:
    if value is None or value == float("inf"):
        return "identical"
    return f"{value:.2f} dB"


def parity_rows(items: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Table lines for (file, ParityResult.to_dict()) pairs."""
    lines = [f"{'artifact':<22} {'backend:prec':<17} {'vs torch fp32':>13} {'vs HR':>8} {'max|diff|':>9} {'NaN':>4}  result"]
    for file, p in items:
        hr = f"{p['psnr_vs_hr']:.3f}" if p["psnr_vs_hr"] is not None else "nan"
        max_abs = f"{p['max_abs']:.2g}" if p["max_abs"] is not None else "nan"
        lines.append(f"{file:<22} {p['name']:<17} {_db(p['psnr_vs_ref']):>13} {hr:>8} {max_abs:>9} "
                     f"{p['nan_count']:>4}  {'ok' if p['passed'] else 'FAIL (' + p['criterion'] + ')'}")
    return lines



def check_output_file(path: str | None, *, flag: str) -> None:
    """Before the work: ``path`` (an output file a flag names) can be written, else one ConfigError line."""
    from pathlib import Path

    from srkd.errors import ConfigError
    from srkd.fsutil import creatable

    if not path or path == "-":
        return
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; expected a file name to write")
    why = creatable(Path(path).parent)
    if why:
        raise ConfigError(f"{flag} {path}: cannot be written ({why})")


def write_output(path: str, text: str, *, flag: str) -> None:
    """Write an output file a flag names, atomically; an OS refusal is one ConfigError line naming it."""
    from pathlib import Path

    from srkd.errors import ConfigError
    from srkd.fsutil import atomic_write_text, cannot_create

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write ({cannot_create(Path(path).parent, exc)})") from None


__all__ = ["BackendChoice", "check_output_file", "device_option", "host_line", "input_range_option", "latency_rows",
           "parity_rows", "parse_sizes", "pick_device", "runs_option", "sizes_option", "threads_option", "write_output"]
