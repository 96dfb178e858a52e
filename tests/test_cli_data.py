"""`digitlab data fetch | info | show | export`, run as a user runs them.

Errors are checked in a subprocess: only the console-script entry point turns them into one line
on stderr and exit code 2, which is the behaviour a user sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.data.datasets import DatasetSplits, load_dataset
from digitlab.data.mnist_sources import CANONICAL

# The published per-class counts of the canonical MNIST training set (digits 0..9).
MNIST_TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def digitlab(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "digitlab.cli", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_info_json_reports_the_canonical_mnist(mnist_dir: Path, mnist: DatasetSplits) -> None:
    doc = json.loads(digitlab("data", "info", "--json", "--data-dir", str(mnist_dir)).stdout)
    splits = doc["splits"]
    assert (splits["train"]["count"], splits["test"]["count"]) == (60000, 10000)
    assert splits["train"]["class_counts"] == MNIST_TRAIN_CLASS_COUNTS
    assert splits["val"]["class_counts"] == mnist.split_validation()[1].class_counts()
    assert sum(splits["val"]["class_counts"]) == splits["val"]["count"]
    assert doc["md5"] == {name: md5 for name, (_, md5) in CANONICAL.items()}
    assert doc["classes"] == [str(i) for i in range(10)]
    assert doc["source"] == "cache" and doc["path"] == str(mnist_dir / "mnist")


def test_info_text_lists_splits_and_checksums(mnist_dir: Path) -> None:
    text = invoke("data", "info", "--data-dir", str(mnist_dir))
    assert "train:  60000" in text and "test:  10000" in text
    assert CANONICAL["train-images"][1] in text


def test_info_on_a_dataset_too_small_for_the_holdout(tmp_path: Path) -> None:
    from digitlab.data.idx import write_idx

    for stem, n in (("train", 20), ("t10k", 5)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 2)
    doc = json.loads(invoke("data", "info", "--json", "--dataset", f"idx:{tmp_path}"))
    assert doc["splits"]["train"]["count"] == 20
    assert doc["splits"]["val"]["count"] == 0


def test_fetch_json_on_a_warm_cache(mnist_dir: Path) -> None:
    proc = digitlab("data", "fetch", "--json", "--data-dir", str(mnist_dir))
    doc = json.loads(proc.stdout)
    assert doc["source"] == "cache"
    assert doc["md5"] == {name: md5 for name, (_, md5) in CANONICAL.items()}
    assert 0 <= doc["seconds"]
    assert proc.stderr == ""  # --json: nothing but the document


def test_show_writes_a_nontrivial_png(mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    invoke("data", "show", "--out", str(out), "--n", "9", "--data-dir", str(mnist_dir))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert min(pixels.shape) > 100
    assert pixels.std() > 10  # digits drawn, not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # written atomically: no temp file left


def test_show_seeded_samples_the_validation_split(mnist_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for path in (a, b):
        invoke("data", "show", "--out", str(path), "--split", "val", "--n", "4", "--seed", "3",
               "--data-dir", str(mnist_dir))
    assert a.read_bytes() == b.read_bytes()


def test_export_npy_writes_the_four_arrays(mnist_dir: Path, mnist: DatasetSplits, tmp_path: Path) -> None:
    invoke("data", "export", "--format", "npy", "--out", str(tmp_path), "--data-dir", str(mnist_dir))
    x_train, y_train = np.load(tmp_path / "x_train.npy"), np.load(tmp_path / "y_train_label.npy")
    x_test, y_test = np.load(tmp_path / "x_test.npy"), np.load(tmp_path / "y_test_label.npy")
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    np.testing.assert_array_equal(x_test, mnist.test.images)
    np.testing.assert_array_equal(y_train, mnist.train_full.labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_test.npy", "x_train.npy", "y_test_label.npy",
                                                          "y_train_label.npy"]


def test_export_idx_reads_back_as_an_idx_dataset(tmp_path: Path) -> None:
    from digitlab.data.idx import write_idx

    source = tmp_path / "src"
    rng = np.random.default_rng(0)
    for stem, n in (("train", 12), ("t10k", 4)):
        write_idx(source / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(source / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 3, n).astype(np.uint8))
    (source / "classes.json").write_text('["a", "b", "c"]')
    out = tmp_path / "out"
    invoke("data", "export", "--format", "idx", "--dataset", f"idx:{source}", "--out", str(out))
    original, exported = load_dataset(f"idx:{source}"), load_dataset(f"idx:{out}")
    assert exported.classes == ("a", "b", "c")
    np.testing.assert_array_equal(exported.train_full.images, original.train_full.images)
    np.testing.assert_array_equal(exported.test.labels, original.test.labels)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "info", "--dataset", "kmnist"], "unknown dataset 'kmnist'"),
        (["data", "info", "--dataset", "idx:/nonexistent/digits"], "/nonexistent/digits: not a directory"),
        (["data", "show", "--split", "holdout", "--out", "{tmp}/x.png", "--data-dir", "{mnist}"],
         "unknown split 'holdout'; choose from train, val, test"),
        (["data", "export", "--format", "csv", "--out", "{tmp}/o", "--data-dir", "{mnist}"],
         "unknown export format 'csv'"),
        (["data", "fetch", "--source", "cache", "--data-dir", "{tmp}/empty"], "no verified cache in"),
        (["data", "fetch", "--source", "cache,ftp", "--data-dir", "{tmp}/empty"], "unknown MNIST source(s) ['ftp']"),
        (["data", "fetch", "--dataset", "fashion-mnist", "--mirror", "http://x/"], "apply to MNIST only"),
    ],
    ids=["unknown dataset", "missing idx dir", "bad split", "bad format", "empty cache", "bad source",
         "mirror for fashion"],
)
def test_errors_are_one_line_on_stderr_without_traceback(args: list[str], message: str, mnist_dir: Path,
                                                         tmp_path: Path) -> None:
    args = [a.format(tmp=tmp_path, mnist=mnist_dir) for a in args]
    proc = digitlab(*args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "o").exists()
