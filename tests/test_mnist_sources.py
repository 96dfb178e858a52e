"""Getting MNIST: the restricted unpickler, the lossless pixel check, and mirrors served from loopback.

The mirror tests serve the real cached MNIST files (only the canonical payloads pass the MD5 check)
from an http.server on 127.0.0.1, plus broken variants of them: one flipped byte, corrupt gzip, 404,
a connection that drops early, and a slow server that the interrupted-fetch test kills mid-download.
"""

from __future__ import annotations

import builtins
import gzip
import http.server
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from digitlab.data.mnist_sources import (
    CANONICAL,
    MANIFEST,
    NumpyOnlyUnpickler,
    cached,
    fetch_mnist,
    payloads_from_pickle,
    pixels_to_uint8,
    restricted_loads,
    verify_payloads,
)
from digitlab.errors import DataError

CANONICAL_MD5 = {name: md5 for name, (_, md5) in CANONICAL.items()}
TRAIN_LABELS = CANONICAL["train-labels"][0]

# --- the restricted unpickler ------------------------------------------------------------------


class Reduce:
    """Pickles as a call of ``func(*args)``: what a hostile pickle does."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "builtins.exec", "nested after an array"])
def test_unpickler_refuses_any_other_global_and_runs_nothing(tmp_path: Path, attack: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    payload = {
        "os.system": Reduce(os.system, f"touch {marker}"),
        "builtins.eval": Reduce(builtins.eval, touch),
        "builtins.exec": Reduce(builtins.exec, touch),
        "nested after an array": (np.arange(3), [Reduce(os.system, f"touch {marker}")]),
    }[attack]
    data = pickle.dumps(payload, protocol=protocol)
    refused = r"refusing to unpickle global (posix|os|builtins|__builtin__)\.(system|eval|exec)"
    with pytest.raises(DataError, match=refused):
        restricted_loads(data)
    assert not marker.exists()


def test_unpickler_refuses_codecs_encode_used_for_anything_but_bytes() -> None:
    # Protocol 2 spells bytes as _codecs.encode(text, "latin1"); no other codec may be reached through it.
    data = pickle.dumps(Reduce(__import__("_codecs").encode, "x", "rot13"), protocol=2)
    with pytest.raises(DataError, match="refusing to unpickle _codecs.encode"):
        restricted_loads(data)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("array", [np.arange(12, dtype=np.float32).reshape(3, 4) / 256,
                                   np.arange(5, dtype=">i2"), np.zeros((0, 28), np.uint8)],
                         ids=["float32", "big-endian int16", "empty"])
def test_unpickler_loads_real_numpy_pickles(array: np.ndarray, protocol: int) -> None:
    data = pickle.dumps((array, [array]), protocol=protocol)
    back, reference = restricted_loads(data), pickle.loads(data)  # the same result as the unrestricted one
    np.testing.assert_array_equal(back[0], array)
    assert back[0].dtype == reference[0].dtype
    np.testing.assert_array_equal(back[1][0], array)


def test_unpickler_is_a_pickle_unpickler_subclass() -> None:
    assert issubclass(NumpyOnlyUnpickler, pickle.Unpickler)


@pytest.mark.parametrize("data", [b"", b"not a pickle", pickle.dumps(np.arange(3), protocol=2)[:-5]],
                         ids=["empty", "garbage", "truncated"])
def test_malformed_pickle_is_a_data_error(data: bytes) -> None:
    with pytest.raises(DataError, match="cannot read pickle"):
        restricted_loads(data)


# --- pickle -> canonical IDX payloads ----------------------------------------------------------


def test_pixels_to_uint8_recovers_every_byte_exactly() -> None:
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(pixels_to_uint8(pixels.astype(np.float32) / np.float32(256), "t"), pixels)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.0, 0.5 / 256], "refusing a lossy conversion"),  # half a grey level: not an exact byte
        ([0.0, 0.1], "refusing a lossy conversion"),
        ([0.0, 1.0], r"outside \[0, 255/256\]"),  # 256 does not fit a byte
        ([-1 / 256], r"outside \[0, 255/256\]"),
        ([0.0, float("nan")], r"outside \[0, 255/256\]"),
    ],
)
def test_pixels_to_uint8_refuses_lossy_or_out_of_range_values(values: list[float], message: str) -> None:
    with pytest.raises(DataError, match=rf"^mnist\.pkl\.gz: .*{message}"):
        pixels_to_uint8(np.array(values, dtype=np.float32), "mnist.pkl.gz")


def synthetic_pickle(rng: np.random.Generator, n: tuple[int, int, int] = (3, 2, 4)) -> tuple[bytes, list]:
    """mnist.pkl.gz in miniature: (train, valid, test) pairs of pixel/256 floats and int64 labels."""
    pairs = [(rng.integers(0, 256, (k, 784), dtype=np.uint8), rng.integers(0, 10, k)) for k in n]
    obj = tuple((x.astype(np.float32) / np.float32(256), y) for x, y in pairs)
    return gzip.compress(pickle.dumps(obj, protocol=2)), pairs


def test_payloads_from_pickle_concatenates_train_and_validation() -> None:
    from digitlab.data.idx import decode_idx

    blob, ((xtr, ytr), (xva, yva), (xte, yte)) = synthetic_pickle(np.random.default_rng(0))
    payloads = payloads_from_pickle(blob, "mini.pkl.gz")
    np.testing.assert_array_equal(decode_idx(payloads["train-images"]), np.concatenate([xtr, xva]).reshape(-1, 28, 28))
    np.testing.assert_array_equal(decode_idx(payloads["train-labels"]), np.concatenate([ytr, yva]))
    np.testing.assert_array_equal(decode_idx(payloads["test-images"]), xte.reshape(-1, 28, 28))
    assert decode_idx(payloads["test-labels"]).dtype == np.uint8
    with pytest.raises(DataError, match=r"mini\.pkl\.gz: .*MD5"):  # not the canonical data
        verify_payloads(payloads, "mini.pkl.gz")


def test_payloads_from_pickle_refuses_corrupt_gzip_and_wrong_structure() -> None:
    blob, _ = synthetic_pickle(np.random.default_rng(1))
    broken = bytearray(blob)
    broken[12] ^= 0xFF  # inside the deflate stream
    with pytest.raises(DataError, match=r"^w\.whl: corrupt gzip"):
        payloads_from_pickle(bytes(broken), "w.whl")
    with pytest.raises(DataError, match="expected three"):
        payloads_from_pickle(gzip.compress(pickle.dumps((np.zeros(3),), protocol=2)), "w.whl")


# --- a loopback mirror -------------------------------------------------------------------------


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """GET /<mirror>/<file>: bytes from server.mirrors[mirror][file]; 404 when absent.

    Mirror "slow" trickles its bytes out; mirror "short" promises more bytes than it sends.
    """

    server: MirrorServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        _, mirror, filename = self.path.split("/", 2)
        self.server.requests.append(self.path)
        body = self.server.mirrors.get(mirror, {}).get(filename)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) + (1000 if mirror == "short" else 0)))
        self.end_headers()
        try:
            if mirror == "slow":
                for i in range(0, len(body), 16 << 10):
                    self.wfile.write(body[i:i + (16 << 10)])
                    self.wfile.flush()
                    if i >= 128 << 10:
                        self.server.slow_download_started.set()
                    time.sleep(0.02)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed: that is the point of the slow mirror
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


class MirrorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mirrors: dict[str, dict[str, bytes]]) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.mirrors = mirrors
        self.requests: list[str] = []
        self.slow_download_started = threading.Event()

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mirror}/"


def flip_label(blob: bytes) -> bytes:
    """The labels file with one byte of its payload flipped: still valid IDX, wrong MD5."""
    raw = bytearray(gzip.decompress(blob))
    raw[8] ^= 0x01  # the first label (5 -> 4)
    return gzip.compress(bytes(raw), mtime=0)


@pytest.fixture(scope="module")
def mirror(mnist_dir: Path) -> Iterator[MirrorServer]:
    good = {filename: (mnist_dir / "mnist" / filename).read_bytes() for filename, _ in CANONICAL.values()}
    corrupt_gzip = bytearray(good[TRAIN_LABELS])
    corrupt_gzip[len(corrupt_gzip) // 2] ^= 0xFF
    mirrors = {
        "good": good,
        "flipped": {**good, TRAIN_LABELS: flip_label(good[TRAIN_LABELS])},
        "badgzip": {**good, TRAIN_LABELS: bytes(corrupt_gzip)},
        "missing": {f: b for f, b in good.items() if f != TRAIN_LABELS},
        "short": good,
        "slow": good,
    }
    server = MirrorServer(mirrors)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def files_under(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mirrored_cache(mirror: MirrorServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One successful fetch from the good mirror, shared by the tests that only inspect its result."""
    directory = tmp_path_factory.mktemp("mirrored") / "mnist"
    result = fetch_mnist(directory, sources=["mirror"], mirrors=[mirror.url("good")])
    return directory, result


def test_good_mirror_fills_the_cache_with_a_manifest(mirrored_cache: tuple[Path, object], mnist_dir: Path) -> None:
    directory, result = mirrored_cache
    assert result.source == "mirror"
    assert result.md5 == CANONICAL_MD5
    manifest = json.loads((directory / MANIFEST).read_text())
    assert manifest["source"] == "mirror"
    assert {e["file"] for e in manifest["files"].values()} == {f for f, _ in CANONICAL.values()}
    assert cached(directory) == manifest
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    for filename, _ in CANONICAL.values():  # gzip files are cached as the mirror served them
        assert (directory / filename).read_bytes() == (mnist_dir / "mnist" / filename).read_bytes()


def test_cache_hit_needs_no_network(mirror: MirrorServer, mirrored_cache: tuple[Path, object],
                                    tmp_path: Path) -> None:
    directory = tmp_path / "mnist"
    shutil.copytree(mirrored_cache[0], directory)
    before = len(mirror.requests)
    result = fetch_mnist(directory, mirrors=[mirror.url("good")])
    assert result.source == "cache"
    assert result.md5 == CANONICAL_MD5
    assert len(mirror.requests) == before


@pytest.mark.parametrize("tamper", ["flip a byte", "drop the manifest", "drop a file", "edit the manifest md5"])
def test_a_tampered_cache_is_not_trusted(mirrored_cache: tuple[Path, object], tmp_path: Path, tamper: str) -> None:
    directory = tmp_path / "mnist"
    shutil.copytree(mirrored_cache[0], directory)
    assert cached(directory) is not None
    target = directory / TRAIN_LABELS
    if tamper == "flip a byte":
        data = bytearray(target.read_bytes())
        data[-100] ^= 0x01
        target.write_bytes(bytes(data))
    elif tamper == "drop the manifest":
        (directory / MANIFEST).unlink()
    elif tamper == "drop a file":
        target.unlink()
    else:
        manifest = json.loads((directory / MANIFEST).read_text())
        manifest["files"]["train-labels"]["md5"] = "0" * 32
        (directory / MANIFEST).write_text(json.dumps(manifest))
    assert cached(directory) is None
    with pytest.raises(DataError, match="no verified cache in"):
        fetch_mnist(directory, sources=["cache"])


def test_flipped_byte_fails_naming_the_file_and_leaves_the_cache_clean(mirror: MirrorServer, tmp_path: Path) -> None:
    directory = tmp_path / "mnist"
    with pytest.raises(DataError) as info:
        fetch_mnist(directory, sources=["mirror"], mirrors=[mirror.url("flipped")])
    message = str(info.value)
    assert f"{TRAIN_LABELS} has MD5" in message
    assert CANONICAL["train-labels"][1] in message
    assert not directory.exists() or files_under(directory) == {}


def test_a_bad_mirror_falls_through_to_the_next_good_one(mirror: MirrorServer, tmp_path: Path) -> None:
    directory = tmp_path / "mnist"
    messages: list[str] = []
    result = fetch_mnist(directory, sources=["mirror"], mirrors=[mirror.url("flipped"), mirror.url("good")],
                         progress=messages.append)
    assert result.source == "mirror"
    assert cached(directory) is not None
    failed = [m for m in messages if "failed" in m]
    assert len(failed) == 1 and mirror.url("flipped") in failed[0] and TRAIN_LABELS in failed[0]
    # The bad mirror was abandoned at its first bad file, not downloaded in full.
    flipped_requests = [r for r in mirror.requests if r.startswith("/flipped/")]
    assert flipped_requests[-1] == f"/flipped/{TRAIN_LABELS}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "HTTP 404"),
        ("badgzip", "corrupt gzip"),
        ("short", "connection closed after"),
    ],
)
def test_broken_mirror_gives_a_clear_error(mirror: MirrorServer, tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        fetch_mnist(tmp_path / "mnist", sources=["mirror"], mirrors=[mirror.url(name)])
    assert message in str(info.value)
    assert mirror.url(name) in str(info.value)  # names the URL of the file that failed


def test_all_mirrors_bad_raises_and_leaves_the_cache_untouched(mirror: MirrorServer, tmp_path: Path) -> None:
    directory = tmp_path / "mnist"
    directory.mkdir()
    (directory / "unrelated.txt").write_text("kept as is")
    before = files_under(directory)
    urls = [mirror.url(m) for m in ("missing", "flipped", "badgzip")] + ["http://127.0.0.1:9/refused/"]
    with pytest.raises(DataError) as info:
        fetch_mnist(directory, sources=["cache", "mirror"], mirrors=urls)
    message = str(info.value)
    assert message.startswith("could not obtain MNIST")
    assert "no verified cache in" in message
    for expected in ("HTTP 404", "has MD5", "corrupt gzip", "127.0.0.1:9"):
        assert expected in message
    assert files_under(directory) == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sources": ["ftp"]}, r"unknown MNIST source\(s\) \['ftp'\]"),
    ({"sources": ["mirror"], "mirrors": ["ftp://example.org/mnist/"]}, "only http:// and https://"),
    ({"sources": ["mirror"], "mirrors": ["file:///etc/"]}, "only http:// and https://"),
])
def test_bad_source_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        fetch_mnist(tmp_path / "mnist", **kwargs)
    assert not (tmp_path / "mnist").exists()


def test_mirrors_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from digitlab.data.mnist_sources import DEFAULT_MIRRORS, mirrors_from_env

    monkeypatch.setenv("DIGITLAB_MNIST_MIRRORS", "http://a/, http://b/ http://c/")
    assert mirrors_from_env() == ["http://a/", "http://b/", "http://c/"]
    monkeypatch.setenv("DIGITLAB_MNIST_MIRRORS", "")
    assert mirrors_from_env() == list(DEFAULT_MIRRORS)


# --- a fetch killed mid-download ---------------------------------------------------------------


def cli_fetch(data_dir: Path, mirror_url: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "digitlab.cli", "data", "fetch", "--data-dir", str(data_dir),
           "--source", "mirror", "--mirror", mirror_url, "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_fetch_leaves_nothing_trusted_and_the_next_fetch_succeeds(mirror: MirrorServer,
                                                                           tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    mirror.slow_download_started.clear()
    proc = cli_fetch(data_dir, mirror.url("slow"))
    try:
        deadline = time.monotonic() + 60
        while not mirror.slow_download_started.wait(0.1) and proc.poll() is None and time.monotonic() < deadline:
            pass
        assert proc.poll() is None, f"the fetch ended before it could be interrupted: {proc.communicate()}"
        assert mirror.slow_download_started.is_set(), "the fetch never started downloading"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    assert cached(data_dir / "mnist") is None
    left = [p for p in data_dir.rglob("*") if p.is_file()] if data_dir.exists() else []
    assert all(re.fullmatch(r"\..+\.tmp", p.name) for p in left), left  # only temp files, which nothing reads

    proc = cli_fetch(data_dir, mirror.url("good"))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["source"] == "mirror"
    assert report["md5"] == CANONICAL_MD5
    assert cached(data_dir / "mnist") is not None
