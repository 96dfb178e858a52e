"""Decode any image a user hands us into one grey uint8 array (0 = black, 255 = white).

Sources: a path, bytes, a binary file object, a PIL image or a numpy array. Every failure is an
``ImageError`` with a message a user can act on. The declared size is checked against a pixel limit
before any pixel is decoded, so a small file that claims to be a huge image (a decompression bomb)
costs nothing.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import IO, NamedTuple

import numpy as np
from PIL import ExifTags, Image, ImageOps

from digitlab.errors import ImageError, ImageTooLarge

DEFAULT_MAX_PIXELS = 40_000_000  # a 40-megapixel photo is the largest we decode unless told otherwise

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes] | Image.Image | np.ndarray

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_WIDE_INT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # 16-bit greys (PNG, TIFF) decode as these


class DecodedImage(NamedTuple):
    grey: np.ndarray  # uint8 (H, W); reduced when max_side was given
    size: tuple[int, int]  # (width, height) of the full image, after EXIF rotation

    @property
    def scale(self) -> float:
        """Full-image pixels per pixel of ``grey`` (1.0 unless it was reduced)."""
        return self.size[0] / self.grey.shape[1]


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int | None = None) -> np.ndarray:
    """The image as grey uint8 (H, W). See ``read_image`` for the arguments."""
    return read_image(source, max_pixels=max_pixels, max_side=max_side).grey


def read_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int | None = None) -> DecodedImage:
    """Decode ``source`` to grey uint8 and report the full image's size.

    Colour becomes luma, transparency is composited on white, EXIF orientation is applied and only the
    first frame of an animation is read. ``max_side`` reduces the result by a whole factor so its
    longest side is at most that (and at least half of it); JPEGs are then decoded at 1/2, 1/4 or 1/8
    scale directly, several times faster than a full decode. Boxes found on the reduced image map
    back to the full one with ``scale``.
    """
    if max_pixels < 1:
        raise ImageError(f"max_pixels must be positive, got {max_pixels}")
    if max_side is not None and max_side < 1:
        raise ImageError(f"max_side must be positive, got {max_side}")
    if isinstance(source, np.ndarray):
        if source.ndim >= 2 and source.size:
            _check_pixels(source.shape[1], source.shape[0], max_pixels, "array")
        grey = as_grey(source)
        size = (grey.shape[1], grey.shape[0])
        if max_side is not None and max(size) > max_side:
            grey = np.asarray(_fit(Image.fromarray(grey), max_side))
        return DecodedImage(grey, size)
    if isinstance(source, Image.Image):
        return _decode(source, "image", max_pixels, max_side, ours=False)
    name, stream = _open_stream(source)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns (then errors) above its global limit; we refuse either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image = Image.open(stream)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise ImageTooLarge(f"{name}: image too large (refused as a possible decompression bomb: {e})"
                                    ) from None
            except Image.UnidentifiedImageError:
                raise ImageError(f"{name}: {_unidentified(stream)}") from None
            except Exception as e:  # a malformed header can raise nearly anything inside a plugin
                raise ImageError(f"{name}: {_describe(e)}") from None
            with image:
                return _decode(image, name, max_pixels, max_side)
    finally:
        stream.close()


def as_grey(array: np.ndarray) -> np.ndarray:
    """A numpy image as grey uint8 (H, W): grey, (H, W, 1), RGB or RGBA (alpha composited on white).

    Integer arrays are read as 0..255 (uint16 as 0..65535); float arrays as 0..1, or as 0..255 when
    any value exceeds 1; booleans as black/white.
    """
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        pass
    elif a.ndim != 2:
        raise ImageError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if a.size == 0:
        raise ImageError(f"empty image (shape {a.shape})")
    if a.dtype == np.uint8 and a.ndim == 2:
        return a
    if a.dtype == bool:
        unit = a.astype(np.float32)
    elif a.dtype.kind in "ui":
        top = 65535.0 if a.dtype.itemsize > 1 and a.max() > 255 else 255.0
        unit = a.astype(np.float32) / top
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ImageError("image array contains NaN or infinite values")
        unit = a.astype(np.float32)
        if unit.max() > 1.0:
            unit = unit / 255.0
    else:
        raise ImageError(f"unsupported image array dtype {a.dtype}")
    unit = np.clip(unit, 0.0, 1.0)
    if unit.ndim == 3:
        if unit.shape[2] == 4:
            alpha = unit[..., 3:]
            unit = unit[..., :3] * alpha + (1.0 - alpha)  # composite on white
        if unit.shape[2] == 3:
            unit = unit @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as Pillow's "L"
        else:
            unit = unit[..., 0]
    return np.rint(unit * 255.0).astype(np.uint8)


def _open_stream(source: ImageSource) -> tuple[str, IO[bytes]]:
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            f = open(name, "rb")  # noqa: SIM115 -- closed by the caller
        except OSError as e:
            raise ImageError(f"{name}: cannot read ({e.strerror or e})") from None
        if os.fstat(f.fileno()).st_size == 0:
            f.close()
            raise ImageError(f"{name}: empty file")
        return name, f
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty image data (0 bytes)")
        return "image data", io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "image stream"))
        try:
            data = source.read()  # read it all: upload streams are often not seekable
        except OSError as e:
            raise ImageError(f"{name}: cannot read ({e})") from None
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{name}: expected a binary stream, got {type(data).__name__}")
        if len(data) == 0:
            raise ImageError(f"{name}: empty file")
        return name, io.BytesIO(data)
    raise ImageError(f"cannot read an image from {type(source).__name__}")


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(f"{name}: image too large ({width}x{height} = {width * height / 1e6:.1f} megapixels; "
                         f"the limit is {max_pixels / 1e6:.1f})")


def _decode(image: Image.Image, name: str, max_pixels: int, max_side: int | None, ours: bool = True) -> DecodedImage:
    _check_pixels(image.width, image.height, max_pixels, name)  # declared size only: nothing decoded yet
    full_size = image.size
    try:
        if ours and max_side is not None and image.format == "JPEG":  # never change a caller's image
            # Decode straight to grey at the smallest DCT scale (1/2, 1/4, 1/8) keeping half of max_side.
            image.draft("L", (math.ceil(image.width * max_side / max(image.size) / 2),
                              math.ceil(image.height * max_side / max(image.size) / 2)))
        image.load()
        loaded_size = image.size
        if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:  # exif_transpose copies the image even if not
            image = ImageOps.exif_transpose(image)
        grey = _grey_image(image)
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"{name}: {_describe(e)}") from None
    if image.size != loaded_size:  # EXIF said the camera was turned a quarter: width and height swap
        full_size = (full_size[1], full_size[0])
    if max_side is not None and max(grey.size) > max_side:
        grey = _fit(grey, max_side)
    return DecodedImage(np.asarray(grey), full_size)


_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP",
               b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"RIFF": "WebP"}


def _unidentified(stream: IO[bytes]) -> str:
    """Why Pillow could not open it: a known format's signature with nothing usable after it is a
    truncated or corrupt file, anything else is not an image."""
    stream.seek(0)
    head = stream.read(12)
    for signature, fmt in _SIGNATURES.items():
        if head.startswith(signature) and (fmt != "WebP" or head[8:12] == b"WEBP"):
            return f"truncated or corrupt {fmt} file"
    return "not an image (unknown or unsupported format)"


def _describe(error: Exception) -> str:
    text = str(error)
    if "truncated" in text.lower() or isinstance(error, EOFError):
        return "truncated image (the file ends before the image data does)"
    if isinstance(error, MemoryError):
        return "image too large to decode in memory"
    return f"unreadable image ({text or type(error).__name__})"


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _grey_image(image: Image.Image) -> Image.Image:
    if image.mode in _WIDE_INT_MODES:
        wide = np.asarray(image, dtype=np.float32)
        return Image.fromarray(np.rint(np.clip(wide / 65535.0, 0, 1) * 255).astype(np.uint8))
    if image.mode == "F":
        return Image.fromarray(as_grey(np.asarray(image)))
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("L")  # opaque (a canvas filled white): compositing would change nothing
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    if image.mode == "L":
        return image  # read only: no copy needed
    if image.mode in ("1", "RGB", "P"):
        return image.convert("L")
    return image.convert("RGB").convert("L")  # CMYK, YCbCr, LAB, HSV


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    """Reduce by the smallest whole factor that brings the longest side within ``max_side`` (box
    average over factor x factor blocks: cheap, and as anti-aliased as a resize)."""
    return image.reduce(math.ceil(max(image.size) / max_side))
