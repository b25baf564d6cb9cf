import pytest

from srkd.errors import UnknownNameError
from srkd.registry import Registry


def test_registry_refuses_duplicates_and_lists_names():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    reg.add("B", 2)
    assert reg.get("b") == 2 and "A" in reg and reg.names() == ["a", "b"]
    with pytest.raises(ValueError, match="already registered"):
        reg.add("A", 3)
    with pytest.raises(UnknownNameError, match="unknown widget 'c'; available: a, b"):
        reg.get("c")
