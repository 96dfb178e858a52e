"""Decoding user images: every source kind and format, and every way an input can be bad."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from digitlab.errors import ImageError
from digitlab.vision import DEFAULT_MAX_PIXELS, as_grey, load_image, read_image


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def grey_png(width: int, height: int, idat: bytes) -> bytes:
    """A hand-built 8-bit grey PNG: the header may declare any size, whatever the data holds."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.fixture
def half_dark() -> Image.Image:
    """Left half black, right half a saturated colour: tells luma and orientation apart."""
    pixels = np.zeros((30, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = (200, 60, 20)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_every_common_format_decodes_to_grey_uint8(half_dark, fmt):
    grey = load_image(encode(half_dark, fmt))
    assert grey.shape == (30, 40) and grey.dtype == np.uint8
    expected_right = round(0.299 * 200 + 0.587 * 60 + 0.114 * 20)  # luma, as Pillow's "L"
    lossy = fmt in ("JPEG", "WEBP", "GIF")
    assert abs(int(np.median(grey[:, 25:])) - expected_right) <= (12 if lossy else 1)
    assert np.median(grey[:, :15]) <= (8 if lossy else 0)


def test_sources_path_bytes_stream_pil_and_array_agree(tmp_path, half_dark):
    data = encode(half_dark, "PNG")
    path = tmp_path / "digit.png"
    path.write_bytes(data)
    reference = load_image(data)
    for source in (path, str(path), bytearray(data), memoryview(data), io.BytesIO(data), half_dark,
                   np.asarray(half_dark)):
        np.testing.assert_array_equal(load_image(source), reference, err_msg=type(source).__name__)


def test_non_seekable_stream_is_read_whole(half_dark):
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes):
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._inner.read(min(len(buffer), 7))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert load_image(io.BufferedReader(Pipe(encode(half_dark, "PNG")))).shape == (30, 40)


def test_transparency_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[2:8, 2:8] = (0, 0, 0, 255)  # an opaque black square on a fully transparent black background
    for source in (Image.fromarray(rgba, "RGBA"), encode(Image.fromarray(rgba, "RGBA"), "PNG"), rgba):
        grey = load_image(source)
        assert grey[0, 0] == 255 and grey[5, 5] == 0
    half = np.full((4, 4, 2), (0, 128), dtype=np.uint8)  # black at half opacity, grey + alpha
    assert abs(int(load_image(Image.fromarray(half, "LA"))[0, 0]) - 127) <= 1


def test_palette_with_transparent_index_is_composited():
    image = Image.new("P", (6, 6), 0)
    image.putpalette([0, 0, 0, 10, 10, 10])
    image.putpixel((3, 3), 1)
    image.info["transparency"] = 0
    grey = load_image(encode(image, "PNG", transparency=0))
    assert grey[0, 0] == 255 and grey[3, 3] == 10


def test_sixteen_bit_grey_keeps_its_range():
    wide = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600).astype(np.uint16)
    grey = load_image(encode(Image.fromarray(wide), "PNG"))
    np.testing.assert_allclose(grey, np.rint(wide / 65535 * 255), atol=1)


def test_exif_rotation_is_honoured():
    image = Image.new("L", (40, 20), 255)
    image.paste(0, (0, 0, 10, 20))  # dark band on the left
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = read_image(encode(image, "JPEG", exif=exif, quality=95))
    assert decoded.grey.shape == (40, 20) and decoded.size == (20, 40)
    assert decoded.grey[:8].mean() < 40 and decoded.grey[-20:].mean() > 215  # the band is now at the top


def test_max_side_reduces_and_reports_the_full_size():
    photo = Image.fromarray(np.tile(np.linspace(0, 255, 1200, dtype=np.float32), (800, 1)).astype(np.uint8))
    for fmt in ("JPEG", "PNG"):
        decoded = read_image(encode(photo, fmt), max_side=300)
        assert 150 <= max(decoded.grey.shape) <= 300  # reduced by a whole factor (or a JPEG DCT scale)
        assert decoded.size == (1200, 800)
        assert decoded.scale == pytest.approx(1200 / decoded.grey.shape[1])
        assert abs(float(decoded.grey[:, :10].mean()) - 5) < 6  # still the same picture


@pytest.mark.parametrize(("array", "expected"), [
    (np.array([[0.0, 1.0]]), [0, 255]),
    (np.array([[0.0, 255.0]]), [0, 255]),  # float beyond 1: read as 0..255
    (np.array([[False, True]]), [0, 255]),
    (np.array([[0, 65535]], dtype=np.uint16), [0, 255]),
    (np.array([[[255, 0, 0]]], dtype=np.uint8), [76]),
    (np.array([[[7]]], dtype=np.uint8), [7]),
])
def test_arrays_of_any_dtype_become_grey_uint8(array, expected):
    grey = as_grey(array)
    assert grey.dtype == np.uint8 and grey.ravel().tolist() == expected


@pytest.mark.parametrize(("source", "message"), [
    (b"", "empty"),
    (b"this is not an image, just some text", "not an image"),
    (b"\x89PNG\r\n\x1a\n", "truncated or corrupt PNG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "truncated"),
    (np.zeros((0, 5)), "empty image"),
    (np.zeros((4, 4, 2)), "expected an image array"),
    (np.array([[np.nan]]), "NaN"),
    (Image.new("L", (0, 0)), "empty image"),
    (12345, "cannot read an image from int"),
])
def test_bad_input_raises_image_error(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


def test_unreadable_and_empty_files(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(empty)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        load_image(text)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_reported_as_truncated(fmt):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 120), dtype=np.uint8))
    data = encode(noise, fmt)
    with pytest.raises(ImageError, match="truncated"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_from_its_header_alone():
    # Declares 30000 x 30000 (900 megapixels) in a few dozen bytes; decoding would need 900 MB.
    bomb = grey_png(30000, 30000, zlib.compress(b"\0" * 64))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb)
    assert time.perf_counter() - start < 0.5


def test_pixel_limit_is_checked_before_decoding_and_set_per_call():
    width, height = 3000, 2000  # 6 megapixels of valid, highly compressible data
    png = grey_png(width, height, zlib.compress((b"\0" + b"\xff" * width) * height, 1))  # filter byte + row
    with pytest.raises(ImageError, match=r"too large \(3000x2000 = 6\.0 megapixels; the limit is 5\.0\)"):
        load_image(png, max_pixels=5_000_000)
    assert load_image(png, max_pixels=6_000_000).shape == (2000, 3000)
    assert DEFAULT_MAX_PIXELS >= 6_000_000
    with pytest.raises(ImageError, match="too large"):
        load_image(np.zeros((100, 100), np.uint8), max_pixels=9_999)


def test_pillows_own_bomb_warning_becomes_an_error():
    # Above Pillow's warning limit (about 89 MP) but within ours: Pillow's warning is not let through.
    bomb = grey_png(10000, 10000, zlib.compress(b"\0" * 64))
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb, max_pixels=150_000_000)


def test_the_vision_package_does_not_import_torch():
    code = "import digitlab.vision, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
