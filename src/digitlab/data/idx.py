"""The IDX file format (LeCun's MNIST format), read and written strictly.

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian
uint32, then the payload in big-endian order. Files may be gzip-compressed (detected by magic bytes).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitlab.errors import DataError
from digitlab.utils.fileio import atomic_write_bytes

# type code -> big-endian numpy dtype, per the IDX spec.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip stream ({e})") from None
    return raw


def decode_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an uncompressed IDX payload into a native-endian numpy array."""
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DataError(f"{name}: wrong magic number {data[:4].hex()} (IDX files start with 00 00)")
    if code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{name}: truncated header (needs {header_len} bytes, has {len(data)})")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a hostile header cannot overflow this
    payload = len(data) - header_len
    if payload < expected:
        raise DataError(f"{name}: truncated payload (expected {expected} bytes for shape {shape}, got {payload})")
    if payload > expected:
        raise DataError(f"{name}: {payload - expected} trailing bytes after the payload of shape {shape}")
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a numpy array; raises DataError naming the file."""
    path = Path(path)
    return decode_idx(_read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (uncompressed)."""
    array = np.asarray(array)
    code = _CODE_BY_KIND.get((array.dtype.kind, array.dtype.itemsize)) if array.dtype.kind in "uif" else None
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype} (use uint8, int8, int16, int32, float32, float64)")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX, atomically. ``compress=None`` gzips when the name ends in .gz."""
    path = Path(path)
    data = encode_idx(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write_bytes(path, data)


def check_pair(images: np.ndarray, labels: np.ndarray, n_classes: int, name: str) -> None:
    """Validate an image/label pair as a classification dataset."""
    if images.ndim != 3:
        raise DataError(f"{name}: images must have 3 dimensions (N, H, W), got shape {images.shape}")
    if images.dtype != np.uint8:
        raise DataError(f"{name}: images must be unsigned bytes, got {images.dtype}")
    if labels.ndim != 1:
        raise DataError(f"{name}: labels must have 1 dimension, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{name}: labels must be integers, got {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise DataError(f"{name}: label {int(bad)} out of range 0..{n_classes - 1}")
