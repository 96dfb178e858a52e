"""The IDX reader/writer: exact round trips, and a clear error naming the file for every malformed input."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitlab.data.idx import GZIP_MAGIC, check_pair, decode_idx, encode_idx, read_idx, write_idx
from digitlab.errors import DataError

IDX_DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def header(code: int, *shape: int) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@st.composite
def arrays_of_every_idx_dtype(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(IDX_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
    # Floats include NaN, infinities and -0.0: the round trip must keep every bit.
    return draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(dtype)))


@settings(max_examples=100, deadline=None)
@given(array=arrays_of_every_idx_dtype(), compress=st.booleans())
def test_write_then_read_returns_the_same_array(array: np.ndarray, compress: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.idx"
        write_idx(path, array, compress=compress)
        assert (path.read_bytes()[:2] == GZIP_MAGIC) == compress
        back = read_idx(path)
    assert back.dtype == array.dtype  # native byte order again
    assert back.shape == array.shape
    assert back.tobytes() == array.tobytes()


def test_file_layout_is_big_endian_per_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    write_idx(path, np.array([[1, 2, 3]], dtype=np.int16))
    assert path.read_bytes() == header(0x0B, 1, 3) + b"\x00\x01\x00\x02\x00\x03"


def test_gz_suffix_compresses_unless_told_otherwise(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array, compress=False)
    write_idx(tmp_path / "c", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == GZIP_MAGIC
    assert (tmp_path / "b.gz").read_bytes()[:2] == b"\x00\x00"
    assert (tmp_path / "c").read_bytes()[:2] == b"\x00\x00"
    for name in ("a.gz", "b.gz", "c"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz", "b.gz", "c"]  # no temp files left


def test_big_endian_and_strided_inputs_are_written_by_value(tmp_path: Path) -> None:
    array = np.arange(24, dtype=">i4").reshape(4, 6)[:, ::2]
    write_idx(tmp_path / "a", array)
    back = read_idx(tmp_path / "a")
    assert back.dtype == np.dtype("int32")
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", ["int64", "uint16", "float16", "bool", "complex64", "object"])
def test_encode_refuses_dtypes_idx_cannot_store(dtype: str) -> None:
    with pytest.raises(DataError, match="IDX cannot store dtype"):
        encode_idx(np.zeros(3, dtype=dtype))


def test_encode_refuses_a_scalar() -> None:
    with pytest.raises(DataError, match="1 to 255 dimensions"):
        encode_idx(np.uint8(3))


def test_read_returns_a_writable_array_of_its_own(tmp_path: Path) -> None:
    write_idx(tmp_path / "a", np.zeros((2, 2), np.uint8))
    back = read_idx(tmp_path / "a")
    back[0, 0] = 7  # not a read-only view of the file's bytes
    assert back[0, 0] == 7


GOOD = header(0x08, 2, 3) + bytes(range(6))

MALFORMED = {
    "wrong magic": (b"\x01\x00" + GOOD[2:], "wrong magic number 01000802"),
    "unknown type code": (bytes([0, 0, 0x0A, 2]) + GOOD[4:], "unknown IDX type code 0x0a"),
    "truncated payload": (GOOD[:-1], "truncated payload (expected 6 bytes for shape (2, 3), got 5)"),
    "trailing bytes": (GOOD + b"\x00\x00", "2 trailing bytes after the payload of shape (2, 3)"),
    "truncated header": (GOOD[:9], "truncated header (needs 12 bytes, has 9)"),
    "too short for a header": (b"\x00\x00", "too short for an IDX header (2 bytes)"),
    "zero dimensions": (bytes([0, 0, 0x08, 0]), "declares zero dimensions"),
    "empty file": (b"", "too short for an IDX header (0 bytes)"),
    # 65536^4 = 2^64 wraps to 0 in int64 arithmetic; the size check must still see a truncated payload.
    "huge declared shape": (header(0x08, 0x10000, 0x10000, 0x10000, 0x10000), "truncated payload"),
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gzip"])
def test_malformed_files_raise_a_message_naming_the_file(tmp_path: Path, case: str, compressed: bool) -> None:
    data, message = MALFORMED[case]
    path = tmp_path / f"bad-{case.replace(' ', '-')}.idx"
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_decode_checks_the_same_rules_on_bytes() -> None:
    np.testing.assert_array_equal(decode_idx(GOOD), np.arange(6, dtype=np.uint8).reshape(2, 3))
    with pytest.raises(DataError, match=r"^mem: truncated payload"):
        decode_idx(GOOD[:-1], "mem")


def corrupt_gzip_cases(payload: bytes) -> dict[str, bytes]:
    blob = gzip.compress(payload, mtime=0)
    flipped_data = bytearray(blob)
    flipped_data[12] ^= 0xFF  # inside the deflate stream: zlib itself fails
    flipped_crc = bytearray(blob)
    flipped_crc[-6] ^= 0xFF  # the CRC trailer: decompresses, then fails the check
    return {"deflate": bytes(flipped_data), "crc": bytes(flipped_crc), "truncated": blob[:-10]}


@pytest.mark.parametrize("kind", ["deflate", "crc", "truncated"])
def test_corrupt_gzip_is_a_data_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    payload = header(0x08, 64, 64) + np.random.default_rng(0).integers(0, 256, 64 * 64, dtype=np.uint8).tobytes()
    path = tmp_path / "images.gz"
    path.write_bytes(corrupt_gzip_cases(payload)[kind])
    with pytest.raises(DataError, match=r"corrupt gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as info:
        read_idx(tmp_path / "nope.idx")
    assert str(tmp_path / "nope.idx") in str(info.value)


def test_a_directory_is_not_readable_as_idx(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read") as info:
        read_idx(tmp_path)
    assert str(tmp_path) in str(info.value)


# --- image/label pairs -------------------------------------------------------------------------


def pair(n: int = 4, labels: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 28, 28), np.uint8), np.array(labels if labels is not None else [0] * n, dtype=np.uint8)


def test_check_pair_accepts_a_valid_pair() -> None:
    check_pair(*pair(3, [0, 9, 5]), n_classes=10, name="ok")


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "4 images but 3 labels"),
        (np.zeros((2, 28, 28), np.uint8), np.array([3, 10], np.uint8), "label 10 out of range 0..9"),
        (np.zeros((2, 28, 28), np.uint8), np.array([-1, 3], np.int16), "label -1 out of range 0..9"),
        (np.zeros((2, 28, 28), np.uint8), np.array([0.0, 1.5], np.float32), "labels must be integers"),
        (np.zeros((2, 784), np.uint8), np.zeros(2, np.uint8), "images must have 3 dimensions"),
        (np.zeros((2, 28, 28), np.float32), np.zeros(2, np.uint8), "images must be unsigned bytes"),
        (np.zeros((2, 28, 28), np.uint8), np.zeros((2, 1), np.uint8), "labels must have 1 dimension"),
    ],
    ids=["count mismatch", "label too large", "negative label", "float labels", "flat images", "float images",
         "2-d labels"],
)
def test_check_pair_rejects_with_the_name(images: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(DataError) as info:
        check_pair(images, labels, n_classes=10, name="train-images/train-labels")
    assert str(info.value).startswith("train-images/train-labels: ")
    assert message in str(info.value)
