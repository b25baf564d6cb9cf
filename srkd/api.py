"""The Python API: ``srkd.load(model).upscale(image)`` (the code lives in ``srkd.serve.upscaler``).

>>> up = srkd.load("edsr-x4")                    # or a bundle folder, a student .safetensors/.pth, an srkd .onnx
>>> big = up.upscale(img)                        # HxWx3 / HxW / HxWx4, uint8 or uint16 -> same kind
"""
from srkd.serve.upscaler import Upscaler, load

__all__ = ["Upscaler", "load"]
