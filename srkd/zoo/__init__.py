"""Models shipped inside the package, addressed by name."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from srkd.errors import CheckpointError
from srkd.registry import Registry

# name -> (file in this folder, one-line description)
ZOO: Registry[tuple[str, str]] = Registry("shipped model")
ZOO.add("edsr-x4", ("edsr-x4.safetensors", "EDSR x4 teacher trained by srkd on T91+BSD200 (see edsr-x4.md)"))

DEFAULT_MODEL = "edsr-x4"


def zoo_path(name: str) -> Path:
    """The file of a shipped model; CheckpointError when the package was built without it."""
    filename, _ = ZOO.get(name)
    path = Path(str(resources.files(__name__).joinpath(filename)))
    if not path.is_file():
        raise CheckpointError(f"shipped model {name!r}: file {filename} is missing from the installed package")
    return path
