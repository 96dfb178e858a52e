"""Batch reading (digitlab.batch, `digitlab predict ... --out`): a local process pool and Ray Data give the rows
`digitlab.recognize` gives, one per file, bad files with their error; re-runs skip what is written."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitlab
from digitlab.batch import list_images, read_images
from digitlab.batch.output import ResultsFile
from digitlab.errors import DigitlabError
from digitlab.vision.synthetic import photo_digit, photo_number
from test_cli_lazy import run_cli

GOOD = 240  # synthetic photos: two thirds single digits, a third numbers of 2-4 digits
BAD = {  # file name -> the start of its row's error
    "empty.png": "empty file",
    "notes.png": "not an image",
    "cut.jpg": "truncated",
    "blank.png": "no ink found",
}


@pytest.fixture(scope="module")
def images(tmp_path_factory, mnist) -> Path:
    """A directory of GOOD photos (some in a subdirectory) and the BAD files, plus files a walk skips."""
    root = tmp_path_factory.mktemp("scans")
    (root / "more").mkdir()
    rng = np.random.default_rng(14)
    digits = mnist.test.images
    for i in range(GOOD):
        folder = root / "more" if i % 5 == 4 else root
        if i % 3 == 2:
            photo = photo_number(list(digits[rng.integers(0, len(digits), int(rng.integers(2, 5)))]), rng,
                                 gap=(0.25, 0.5))
            photo.save(folder / f"number-{i:03d}.jpg")
        else:
            photo_digit(digits[rng.integers(0, len(digits))], rng).save(folder / f"digit-{i:03d}.png")
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("a shopping list, not an image\n")
    (root / "cut.jpg").write_bytes((root / "number-002.jpg").read_bytes()[:300])
    Image.new("L", (120, 80), 255).save(root / "blank.png")
    (root / "readme.txt").write_text("not listed: no image suffix\n")
    (root / ".hidden.png").write_bytes(b"not listed: hidden")
    return root


@pytest.fixture(scope="module")
def expected(images) -> dict[str, digitlab.vision.reader.Reading]:
    """What digitlab.recognize reads in each good file, with the model the batch workers run (ONNX Runtime)."""
    from digitlab.inference.classifier import load_classifier

    model = load_classifier("default", runtime="auto")
    return {p: digitlab.recognize(p, model) for p in list_images([images]) if Path(p).name not in BAD}


@pytest.fixture(scope="module")
def local_rows(images, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("local") / "results.parquet"
    summary = read_images(images, out, workers=2)
    assert (summary.files, summary.skipped, summary.read, summary.failed) == (GOOD + len(BAD), 0, GOOD, len(BAD))
    return read_rows(out)


def read_rows(out: Path) -> list[dict]:
    if out.suffix == ".jsonl":
        return [json.loads(line) for line in out.read_text().splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()


def assert_rows_match_recognize(rows: list[dict], expected: dict) -> None:
    by_path = {row["path"]: row for row in rows}
    assert len(by_path) == len(rows) == GOOD + len(BAD)
    for name, error in BAD.items():
        row = by_path[next(p for p in by_path if Path(p).name == name)]
        assert row["error"].startswith(error) and row["digits"] is None and row["probs"] is None, row
    for path, reading in expected.items():
        row = by_path[path]
        assert row["error"] is None, row
        assert row["digits"] == reading.digits, path
        assert row["confidence"] == pytest.approx(reading.confidence, abs=1e-5)
        assert np.allclose(row["probs"], [item.probs for item in reading.items], atol=1e-5)
        assert row["boxes"] == [item.box for item in reading.items]


def test_list_images_walks_directories_and_globs(images, tmp_path):
    listed = list_images([images])
    assert len(listed) == GOOD + len(BAD) and listed == sorted(listed)
    assert any("/more/" in p for p in listed) and not any(p.endswith((".txt", ".hidden.png")) for p in listed)
    numbers = list_images([f"{images}/**/number-*.jpg", f"{images}/number-002.jpg"])  # a file twice: once
    assert len(numbers) == GOOD // 3 and all("number-" in p for p in numbers)
    (tmp_path / "empty").mkdir()
    for bad in [tmp_path / "missing.png", tmp_path / "empty", f"{tmp_path}/*.png", "-"]:
        with pytest.raises(DigitlabError):
            list_images([bad])


def test_local_pool_reads_every_good_file_as_recognize_does_and_bad_ones_get_their_error(local_rows, expected):
    assert_rows_match_recognize(local_rows, expected)
    assert [row["path"] for row in local_rows] == sorted(row["path"] for row in local_rows)


def test_a_rerun_skips_what_is_written_and_retry_errors_reads_only_the_failed(images, local_rows, tmp_path):
    out = tmp_path / "results.jsonl"
    first = read_images(f"{images}/digit-*.png", out, workers=2, batch_size=16)
    assert first.read == len(list_images([f"{images}/digit-*.png"])) and first.failed == 0
    written = {row["path"]: row for row in read_rows(out)}
    again = read_images(images, out, workers=2)
    assert again.skipped == first.read and again.read + again.failed == GOOD + len(BAD) - first.read
    rows = read_rows(out)
    assert [r for r in rows if r["path"] in written] == list(written.values())  # old rows kept as they were
    assert rows == local_rows  # the same rows as one run into Parquet
    retry = read_images(images, out, workers=2, retry_errors=True)
    assert (retry.skipped, retry.read, retry.failed) == (GOOD, 0, len(BAD))
    assert read_rows(out) == rows
    assert not list(tmp_path.glob(".results.jsonl.parts*"))


def test_parts_of_a_killed_run_count_as_written_and_are_merged_next_time(tmp_path):
    out = tmp_path / "r.parquet"
    row = {"path": "a.png", "digits": "7", "confidence": 0.9, "probs": [[0.1] * 10], "boxes": [[0, 0, 5, 5]],
           "error": None}
    killed = ResultsFile(out, part_rows=1).__enter__()
    killed.add([row])  # a part is on disk; the process "dies" before finish()
    killed.add([{**row, "path": "b.png"}])
    with pytest.raises(DigitlabError, match="another job"):  # the dead job's lock is held until it is gone
        ResultsFile(out).__enter__()
    import fcntl

    fcntl.flock(killed._lock, fcntl.LOCK_UN)
    assert not out.exists()
    with ResultsFile(out) as results:
        assert results.done() == {"a.png", "b.png"}
    assert [r["path"] for r in read_rows(out)] == ["a.png", "b.png"] and read_rows(out)[0] == row


def test_ray_engine_gives_the_local_rows_through_the_cli_and_the_function(images, local_rows, expected, tmp_path):
    ray = pytest.importorskip("ray")
    started = time.perf_counter()
    from digitlab.batch.ray_engine import connect

    assert connect(None, workers=2)  # ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        address = ray.get_runtime_context().gcs_address
        print(f"ray.init: {time.perf_counter() - started:.1f} s")
        out = tmp_path / "results.parquet"
        # Half the files through the CLI, a second driver joining this Ray by HOST:PORT; the rest in-process.
        done, _ = run_cli(["predict", f"{images}/digit-*.png", "--engine", "ray", "--address", address,
                           "--out", str(out), "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        first = json.loads(done.stdout)
        print(f"cli: {time.perf_counter() - started:.1f} s")
        assert first["engine"] == "ray" and first["read"] == len(list_images([f"{images}/digit-*.png"]))
        rest = read_images(images, out, engine="ray", batch_size=32)
        assert rest.skipped == first["read"] and rest.read + rest.failed == GOOD + len(BAD) - first["read"]
    finally:
        ray.shutdown()
    rows = read_rows(out)
    assert rows == local_rows
    assert_rows_match_recognize(rows, expected)
    print(f"ray test: {time.perf_counter() - started:.1f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark", "--out", "r.parquet"], "--engine must be local or ray"),
    (["--out", "r.csv"], "--out must end in .parquet or .jsonl"),
    (["--engine", "ray", "--address", f"127.0.0.1:{_free_port()}", "--out", "r.parquet"], "cannot reach a Ray"),
    (["--engine", "ray"], "go with --out"),
    (["--out", "r.jsonl", "--save-crops", "crops"], "do not go with --out"),
])
def test_bad_batch_input_is_one_line_and_exit_2(images, tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "digitlab", "predict", str(images), *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "r.parquet").exists()


def test_without_the_scale_extra_ray_and_parquet_exit_2_naming_it_and_jsonl_still_works(images, tmp_path):
    for args in (["--engine", "ray", "--out", "r.jsonl"], ["--out", "r.parquet"]):
        done, _ = run_cli(["predict", str(images), *args], tmp_path, ["ray", "pyarrow"])
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'digitlab[scale]'" in lines[0], done.stderr
    done, modules = run_cli(["predict", f"{images}/**/number-*.jpg", "--out", "r.jsonl", "--workers", "2"], tmp_path,
                            ["ray", "pyarrow"])
    assert done.returncode == 0, done.stderr
    assert len(read_rows(tmp_path / "r.jsonl")) == GOOD // 3 and not modules & {"ray", "pyarrow", "torch"}
