"""One explicit registry type: entries are added by hand, never discovered by file name."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from srkd.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and lists what exists on a miss."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        key = name.lower()
        if key in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[key] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name.lower()]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._items)) or '(none)'}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, item) pairs in the order they were added (the order a registry's lines give)."""
        return list(self._items.items())

    def remove(self, name: str) -> T:
        """Take ``name`` out again (for tests that register a plug-in of their own); UnknownNameError when absent."""
        item = self.get(name)
        del self._items[name.lower()]
        return item
