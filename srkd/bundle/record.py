"""Typed records that live in JSON: frozen dataclasses parsed and checked once, written back once.

A record class lists its fields with their types; ``from_dict`` checks every value against its type
(``str``, ``int``, ``float``, ``bool``, ``X | None``, ``tuple[X, ...]`` for JSON lists, ``dict[str, Any]``
for free-form objects, nested records) and raises RecordError naming the field when one is missing or
of the wrong kind. Keys a record does not know are kept in ``other`` and written back after the known
ones, so a file written by a newer srkd survives a rewrite by an older one. ``to_dict`` writes the
fields in their declared order; fields declared with ``optional()`` are left out while empty, the way
srkd has always written them.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


class RecordError(ValueError):
    """A JSON object does not fit its record type; the text names the field (``parity.passed: ...``)."""


def optional(default: Any = None, *, factory: Any = None) -> Any:
    """A field that may be absent from the JSON and is left out of it while None or empty."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"omit_empty": True})
    return dataclasses.field(default=default, metadata={"omit_empty": True})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of the typed JSON records (see the module docstring)."""

    other: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[R], data: Any, *, where: str = "") -> R:
        """Parse and check ``data`` (a JSON object); RecordError naming the field on a mismatch."""
        if not isinstance(data, dict):
            raise RecordError(f"{where or cls.__name__}: expected an object, got {_kind(data)}")
        hints, values = _hints(cls), {}
        for f in dataclasses.fields(cls):
            if f.name == "other":
                continue
            if f.name in data:
                values[f.name] = _parse(hints[f.name], data[f.name], _join(where, f.name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where + ': ' if where else ''}missing field {f.name!r}")
        rest = {k: v for k, v in data.items() if k not in _names(cls)}
        return cls(**values, other=rest)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: known fields in declared order, then the keys kept in ``other``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "other" or (f.metadata.get("omit_empty") and value in (None, (), {})):
                continue
            out[f.name] = _dump(value)
        out.update((k, v) for k, v in _dump(self.other).items() if k not in out)
        return out


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls) if f.name != "other")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__)


def _parse(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {_kind(value)}")
        return tuple(_parse(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {_kind(value)}")
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value, where=where)
    ok = {bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}[hint]
    if not ok(value):
        raise RecordError(f"{where}: expected {hint.__name__}, got {_kind(value)}")
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value
