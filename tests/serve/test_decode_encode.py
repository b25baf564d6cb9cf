"""Reading every image kind a folder holds (real photos), and writing it back with depth, alpha, ICC and EXIF."""
import io
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from srkd.errors import ImageReadError
from srkd.serve.decode import apply_orientation, decode_image
from srkd.serve.encode import EncodeOptions, encode_image


def pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def huge_png_header(w: int, h: int) -> bytes:
    """A tiny PNG whose IHDR claims ``w`` x ``h`` pixels (a decompression bomb's header)."""
    data = bytearray(pil_bytes(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def cv2_bytes(img: np.ndarray, ext: str) -> bytes:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    return cv2.imencode(ext, img)[1].tobytes()


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[100:160, 150:230])  # 60x80, not square: rotations show


@pytest.fixture(scope="module")
def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_colour_and_grey_keep_their_depth(crop, ext):
    deep = crop.astype(np.uint16) * 257 + 3
    d = decode_image(cv2_bytes(deep, ext), name="x")
    assert d.pixels.dtype == np.uint16 and np.array_equal(d.pixels, deep)
    grey = decode_image(cv2_bytes(deep[:, :, 1], ext), name="x")
    assert grey.grey and np.array_equal(grey.pixels, deep[:, :, 1])
    rgba = np.dstack([deep, deep[:, :, 0]])
    assert np.array_equal(decode_image(cv2_bytes(rgba, ext), name="x").pixels, rgba)


def test_palette_and_one_bit_are_converted(crop):
    pal = Image.fromarray(crop).quantize(64)
    d = decode_image(pil_bytes(pal, "PNG"), name="p.png")
    assert d.pixels.shape == (60, 80, 3) and "palette converted to RGB" in d.notes
    assert np.array_equal(d.pixels, np.asarray(pal.convert("RGB")))
    pal.info["transparency"] = 0
    assert decode_image(pil_bytes(pal, "PNG", transparency=0), name="p.png").pixels.shape == (60, 80, 4)
    one = decode_image(pil_bytes(Image.fromarray(crop[:, :, 0] > 128), "PNG"), name="b.png")
    assert one.grey and set(np.unique(one.pixels)) <= {0, 255}


def test_cmyk_jpeg_with_and_without_profile(crop, srgb):
    cmyk = Image.fromarray(crop).convert("CMYK")
    plain = decode_image(pil_bytes(cmyk, "JPEG", quality=95), name="c.jpg")
    assert plain.pixels.shape == (60, 80, 3) and plain.icc is None and "CMYK converted to RGB" in plain.notes
    assert np.abs(plain.pixels.astype(int) - crop).mean() < 6
    lcms_cmyk = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))  # any valid profile exercises the path
    tagged = decode_image(pil_bytes(cmyk, "JPEG", quality=95, icc_profile=lcms_cmyk.tobytes()), name="c.jpg")
    assert tagged.pixels.shape == (60, 80, 3)  # an RGB profile on CMYK data falls back to the plain conversion


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_and_is_reset(crop, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "srkd test camera"
    data = pil_bytes(Image.fromarray(crop), "PNG", exif=exif.tobytes())
    d = decode_image(data, name="r.png")
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert np.array_equal(d.pixels, upright)
    back = Image.Exif()
    back.load(d.exif)
    assert back[0x0112] == 1 and back[0x010F] == "srkd test camera"
    assert np.array_equal(apply_orientation(crop, 1), crop)


def test_multi_frame_takes_the_first(crop):
    frames = [Image.fromarray(crop), Image.fromarray(crop[::-1].copy())]
    data = pil_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    d = decode_image(data, name="m.tif")
    assert np.array_equal(d.pixels, crop) and "first of 2 frames only" in d.notes


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file (0 bytes)"), (b"hello, not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt PNG file")])
def test_bad_bytes_give_one_clear_reason(data, reason):
    with pytest.raises(ImageReadError, match="^" + re.escape("bad.png: " + reason)):
        decode_image(data, name="bad.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(crop, fmt):
    data = pil_bytes(Image.fromarray(np.tile(crop, (4, 4, 1))), fmt)
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2], name="t")


def test_pixel_limit_is_checked_before_decoding(crop):
    data = pil_bytes(Image.fromarray(crop), "PNG")
    with pytest.raises(ImageReadError, match=r"80x60 = 4,800 pixels is over --max-pixels 4,000"):
        decode_image(data, name="big.png", max_pixels=4000)
    bomb = huge_png_header(30000, 30000)  # claims 900 MP; decoding it would take 900 MB
    with pytest.raises(ImageReadError, match="over --max-pixels"):
        decode_image(bomb, name="bomb.png", max_pixels=40_000_000)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_png_and_tiff_keep_depth_alpha_and_icc(crop, srgb, ext):
    deep = np.dstack([crop.astype(np.uint16) * 257, np.full(crop.shape[:2], 40000, np.uint16)])
    exif = Image.Exif()
    exif[0x0112] = 1
    data, notes = encode_image(deep, ext=ext, icc=srgb, exif=exif.tobytes(), options=EncodeOptions(png_level=1))
    assert notes == []
    assert np.array_equal(decode_image(data, name="o").pixels, deep)
    im = Image.open(io.BytesIO(data))
    assert im.info.get("icc_profile") == srgb
    if ext == "png":
        assert im.getexif()[0x0112] == 1


def test_jpeg_and_webp_quality_alpha_and_metadata(crop, srgb):
    rgba = np.dstack([crop, np.full(crop.shape[:2], 128, np.uint8)])
    exif = Image.Exif()
    exif[0x010F] = "cam"
    jpg, notes = encode_image(rgba, ext="jpg", icc=srgb, exif=exif.tobytes(), options=EncodeOptions(quality=90))
    assert any("alpha dropped" in n for n in notes)
    im = Image.open(io.BytesIO(jpg))
    assert im.mode == "RGB" and im.info["icc_profile"] == srgb and im.getexif()[0x010F] == "cam"
    small, _ = encode_image(crop, ext="jpg", options=EncodeOptions(quality=20))
    big, _ = encode_image(crop, ext="jpg", options=EncodeOptions(quality=95))
    assert len(small) < len(big)
    webp, notes = encode_image(rgba, ext="webp", icc=srgb, options=EncodeOptions(quality=100))
    assert notes == [] and np.array_equal(np.asarray(Image.open(io.BytesIO(webp))), rgba)  # 100 = lossless
    deep, notes = encode_image(crop.astype(np.uint16) * 257, ext="bmp")
    assert "16-bit reduced to 8-bit" in notes[0] and np.array_equal(decode_image(deep, name="b").pixels, crop)
