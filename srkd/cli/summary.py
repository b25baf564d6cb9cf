"""The summary ``srkd export`` prints for a bundle it made: what each artifact is, parity, latency."""
from __future__ import annotations

from srkd.bundle.manifest import MANIFEST_NAME
from srkd.bundle.reader import Bundle
from srkd.cli.common import host_line, latency_rows, parity_rows


def export_summary(bundle: Bundle) -> list[str]:
    """The lines, from the bundle's manifest."""
    m, spec = bundle.manifest, bundle.spec
    hp = ", ".join(f"{k}={v}" for k, v in spec.hparams.items() if k in ("n_feats", "n_blocks", "n_resgroups"))
    lines = [f"{bundle.path}: {spec.arch} x{spec.scale}" + (f" ({hp})" if hp else "")]
    onnx_tc = next(a.toolchain for a in m.artifacts if a.backend == "onnxruntime")
    slim = ", simplified with onnxslim" if onnx_tc.get("simplified") else ""
    lines.append(f"  model.onnx: opset {onnx_tc['opset']}, {onnx_tc['exporter']} exporter, dynamic batch/height/width{slim}")
    for art in m.artifacts:
        if art.quantization is not None:
            q = art.quantization
            lines.append(f"  {art.file}: QDQ, weights {q.weights}, activations {q.activations}; calibrated on "
                         f"{q.calibration.source} ({q.calibration.kind})")
            for i, attempt in enumerate(q.attempts):
                mark = "kept" if attempt.passed else "failed"
                lines.append(f"    recipe {i + 1}: {attempt.recipe}: vs HR {attempt.psnr_vs_hr:.3f} dB "
                             f"(drop {attempt.drop_db:.3f}) -> {mark}")
        if art.engine is not None:
            e = art.engine
            by_precision = e.layer_check.by_precision if e.layer_check else {}
            lines.append(f"  {art.file}: TensorRT {e.tensorrt}, profile {e.profile}, layers {by_precision}")
    pd = m.parity_data
    if pd is not None:
        crop_note = f"; crop {pd.crop}" if pd.crop else ""
        lines.append(f"  parity on {len(pd.images)} real images ({pd.source}: {', '.join(pd.images)}{crop_note})")
    lines += ["    " + line for line in parity_rows([(a.file, a.parity.to_dict()) for a in m.artifacts])]
    lines.append(f"  latency; {host_line(m.artifacts[0].latency.to_dict())}")
    rows = [{"backend": a.backend, "precision": a.precision, "threads": a.latency.threads, **s.to_dict()}
            for a in m.artifacts for s in a.latency.sizes]
    lines += ["    " + line for line in latency_rows(rows)]
    lines += [f"  {a.key} runs in {a.runs_in or a.precision}" for a in m.artifacts]
    lines += [f"  not built: {skip.artifact}: {skip.why}" for skip in (m.export.skipped if m.export else ())]
    files = [f for a in m.artifacts for f in [a.file, *(c.file for c in a.companions)]]
    spd = m.export.spandrel if m.export else None
    if spd is not None:
        reads = ", ".join(f"{p.name} {p.psnr_vs_ref:.1f} dB" if p.psnr_vs_ref is not None else f"{p.name} identical"
                          for p in spd.parity)
        lines.append(f"  {spd.file} ({spd.bytes:,} bytes): {spd.architecture} for spandrel; read back by {reads}"
                     + ("" if spd.spandrel else " (spandrel does not import here: not checked with it)"))
        files.append(spd.file)
    lines.append(f"  wrote {', '.join(dict.fromkeys(files))}, {MANIFEST_NAME}")
    return lines
