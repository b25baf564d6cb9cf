"""Bundles: one folder with a student, the artifacts made from it, and ``manifest.json``.

Reading (what serve, check, bench and gate use): ``manifest`` (the typed manifest and file names),
``records`` (parity, latency, quantization, engine records), ``reader`` (``load_bundle`` -> ``Bundle``),
``choose`` (``choose_artifact`` and ``open_runner``, the one way to run a bundle). Writing is
``srkd.export.build`` (``export_bundle``).
"""
