"""Helpers for the backends' ``srkd doctor`` probes, which report what failed instead of raising."""
from __future__ import annotations


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]
