"""The model descriptor: everything needed to rebuild and run a network from its file alone."""
from __future__ import annotations

import dataclasses
from typing import Any

FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class SizeReq:
    """Input size requirements: each side >= minimum and a multiple of multiple_of."""

    minimum: int = 1
    multiple_of: int = 1

    def to_dict(self) -> dict[str, int]:
        return {"minimum": self.minimum, "multiple_of": self.multiple_of}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Architecture name, hyperparameters and I/O contract of one network."""

    arch: str
    hparams: dict[str, Any]
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    value_range: tuple[float, float] = (0.0, 1.0)
    size_req: SizeReq = SizeReq()
    # where value_range came from; not part of the saved metadata (a saved file records its range):
    # recorded (srkd metadata), weights (read from them), spandrel, user (--input-range),
    # probe (guessed by trying each range on a photo), default (a guess: the layout's usual range)
    value_range_source: str = "recorded"

    @property
    def range_is_guess(self) -> bool:
        """True when nothing in the file or from the user fixed the input range."""
        return self.value_range_source in ("probe", "default")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "hparams": dict(self.hparams),
            "scale": self.scale,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "value_range": list(self.value_range),
            "size_req": self.size_req.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(
            arch=data["arch"],
            hparams=dict(data["hparams"]),
            scale=int(data["scale"]),
            in_channels=int(data.get("in_channels", 3)),
            out_channels=int(data.get("out_channels", 3)),
            value_range=tuple(data.get("value_range", (0.0, 1.0))),
            size_req=SizeReq(**data.get("size_req", {})),
        )
