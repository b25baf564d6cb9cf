"""``srkd doctor``."""
from __future__ import annotations

import json

import click


class RequirementChoice(click.Choice):
    """``cuda`` and the backends ``srkd doctor`` can require, from the registry when the command runs."""

    def __init__(self) -> None:
        super().__init__([], case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        from srkd.doctor import requirements

        return tuple(requirements())

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns; the registry decides
        pass


def _yes(value: object) -> str:
    return "yes" if value else "no"


def machine_lines(r: dict) -> list[str]:
    """The text report of ``srkd.doctor.machine_report()``: torch and the CPU, then each backend's own lines."""
    from srkd.backends import BACKENDS

    t, c = r["torch"], r["cpu"]
    lines = [f"srkd {r['srkd']} on {r['platform']}, Python {r['python']}"]
    if t["cuda_available"]:
        lines.append(f"torch {t['version']}: CUDA {t['cuda_build']}, cuDNN {t['cudnn']}, {len(t['gpus'])} GPU(s)")
        for g in t["gpus"]:
            cc = g["compute_capability"]
            lines.append(f"  GPU {g['index']}: {g['name']}, sm_{cc[0]}{cc[1]}, {g['memory_gib']} GiB; bf16 units "
                         f"{_yes(g['bf16'])}, fp16 tensor cores {_yes(g['fp16_tensor_cores'])}, TF32 {_yes(g['tf32'])}"
                         + ("" if g["torch_kernels"] else "; NO KERNELS for it in this torch build"))
    else:
        lines.append(f"torch {t['version']}: no CUDA: {t['why']}")
    flags = ", ".join(f"{k} {_yes(v)}" for k, v in c["flags"].items()) if c["flags_known"] else "unknown (no /proc/cpuinfo)"
    lines += [f"CPU: {c['model']}, {c['logical_cpus']} logical / {c['physical_cores']} physical cores "
              f"({c['usable_cpus']} usable here), torch threads {c['torch_threads']}",
              f"  {flags}", f"  bf16 on the CPU: {_yes(c['bf16'])}; int8 dot products (VNNI/AMX): {_yes(c['int8_dot'])}"]
    for name, backend in BACKENDS.items():
        if backend.doctor is not None and name in r:
            lines += backend.doctor.lines(r[name])
    lines += [f"warning: {w}" for w in r["warnings"]]
    return lines


def bundle_lines(b: dict) -> list[str]:
    """The text report of ``srkd.doctor.bundle_report()``."""
    lines = [f"{b['bundle']} on {b['device']}:"]
    width = max(len(a["file"]) for a in b["artifacts"])
    for a in b["artifacts"]:
        what = f"{a['backend']}:{a['precision']}"
        state = f"runs here ({a['on']})" if a["runs"] else f"cannot run here: {a['why']}"
        parity = "" if a["parity_passed"] is not False else " [failed parity at export]"
        lines.append(f"  {a['file']:<{width}}  {what:<17} {state}{parity}")
    auto = b["auto"]
    lines.append(f"  --backend auto here: {auto['backend']}:{auto['precision']} ({auto['file']})" if auto else
                 "  --backend auto here: nothing fits")
    return lines


@click.command()
@click.argument("bundle", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.option("--require", type=RequirementChoice(), multiple=True,
              help="Exit 1 when this is not usable here (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where BUNDLE's artifacts are tried.")
@click.option("--quick", is_flag=True, help="Skip the test sessions and the one-layer TensorRT engine build.")
def command(bundle: str | None, as_json: bool, require: tuple[str, ...], device: str, quick: bool) -> None:
    """What will run on this machine, and why not: torch and its CUDA, every GPU (compute capability,
    real bf16), ONNX Runtime's providers (and whether a CUDA/TensorRT session really starts on them),
    TensorRT (a one-layer engine build), OpenVINO, CPU flags and threads; with BUNDLE, which of its
    artifacts run here. --require cuda|tensorrt|openvino exits 1 when that is missing."""
    from srkd.doctor import bundle_report, machine_report, missing, requirements
    from srkd.errors import BackendUnavailableError

    report = machine_report(probe=not quick)
    if bundle:
        report["bundle"] = bundle_report(bundle, device=device)
    report["missing"] = missing(report, require)
    report["can"] = {name: not missing(report, [name]) for name in requirements()}
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for line in machine_lines(report):
            click.echo(line)
        click.echo("usable here: " + ", ".join(f"{k} {_yes(v)}" for k, v in report["can"].items()))
        if bundle:
            for line in bundle_lines(report["bundle"]):
                click.echo(line)
    if report["missing"]:
        raise BackendUnavailableError("required but not usable here: " + "; ".join(report["missing"]))
