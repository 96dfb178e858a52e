"""Datasets in memory: selection, the validation split, idx:DIR and Fashion-MNIST loading, batches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from digitlab.data import datasets
from digitlab.data.datasets import FASHION_CLASSES, MNIST_CLASSES, DatasetSplits, Digits, data_root, load_dataset
from digitlab.data.idx import write_idx
from digitlab.errors import DataError
from digitlab.inference.normalization import PRESETS, Normalization

FASHION_DIR = datasets.DEBIAN_FASHION_DIR
needs_fashion = pytest.mark.skipif(
    not datasets.has_layout(FASHION_DIR),
    reason=f"Fashion-MNIST IDX files not in {FASHION_DIR} (apt-get install dataset-fashion-mnist)",
)


def small_digits(labels: list[int]) -> Digits:
    """Each image is filled with its own index, so a selection can be traced back to file order."""
    images = np.broadcast_to(np.arange(len(labels), dtype=np.uint8)[:, None, None], (len(labels), 28, 28)).copy()
    return Digits(images, np.array(labels, dtype=np.int64))


def source_index(digits: Digits) -> list[int]:
    return digits.images[:, 0, 0].tolist()


# --- selection ---------------------------------------------------------------------------------


def test_select_keeps_the_first_per_class_of_each_class_in_file_order() -> None:
    d = small_digits([1, 0, 1, 2, 0, 1, 0, 3])
    assert source_index(d.select(classes=[0, 1], per_class=2)) == [0, 1, 2, 4]
    assert source_index(d.select(per_class=1)) == [0, 1, 3, 7]
    assert source_index(d.select(classes=[0, 1], per_class=2, limit=3)) == [0, 1, 2]
    assert source_index(d.select(classes=[3], per_class=5)) == [7]  # fewer than asked: all of them
    assert source_index(d.select(limit=2)) == [0, 1]
    assert source_index(d.select()) == list(range(8))


def test_select_on_mnist_takes_the_first_400_zeros_and_ones(mnist: DatasetSplits) -> None:
    train = mnist.train_full
    picked = train.select(classes=[0, 1], per_class=400)
    zeros, ones = np.flatnonzero(train.labels == 0)[:400], np.flatnonzero(train.labels == 1)[:400]
    expected = np.sort(np.concatenate([zeros, ones]))
    assert len(picked) == 800
    assert np.bincount(picked.labels).tolist() == [400, 400]
    np.testing.assert_array_equal(picked.labels, train.labels[expected])
    np.testing.assert_array_equal(picked.images, train.images[expected])
    assert picked.classes == MNIST_CLASSES


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"classes": [10]}, "class 10 out of range 0..9"),
    ({"classes": [-1]}, "class -1 out of range 0..9"),
    ({"per_class": 0}, "per-class count must be at least 1, got 0"),
    ({"limit": 0}, "limit must be at least 1, got 0"),
    ({"limit": -5}, "limit must be at least 1, got -5"),
])
def test_select_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        small_digits([0, 1, 2]).select(**kwargs)


# --- the validation split ----------------------------------------------------------------------


def splits_of(n: int) -> DatasetSplits:
    train = small_digits([i % 10 for i in range(n)])
    return DatasetSplits("toy", Path("."), train, small_digits([0, 1]))


def test_default_validation_is_the_last_images_in_file_order(mnist: DatasetSplits) -> None:
    train, val = mnist.split_validation()
    n = len(mnist.train_full)
    assert (len(train), len(val)) == (n - datasets.VALIDATION_SIZE, datasets.VALIDATION_SIZE)
    np.testing.assert_array_equal(val.images, mnist.train_full.images[n - datasets.VALIDATION_SIZE:])
    np.testing.assert_array_equal(train.labels, mnist.train_full.labels[: n - datasets.VALIDATION_SIZE])


def test_seeded_validation_is_a_deterministic_disjoint_subset() -> None:
    splits = splits_of(200)
    train_a, val_a = splits.split_validation(size=50, seed=7)
    train_b, val_b = splits.split_validation(size=50, seed=7)
    _, val_c = splits.split_validation(size=50, seed=8)
    assert source_index(val_a) == source_index(val_b) and source_index(train_a) == source_index(train_b)
    assert source_index(val_a) != source_index(val_c)
    assert source_index(val_a) != list(range(150, 200))  # not the fixed holdout
    assert sorted(source_index(train_a) + source_index(val_a)) == list(range(200))
    assert len(val_a) == 50


@pytest.mark.parametrize("size", [-1, 200, 201])
def test_validation_size_out_of_range_is_refused(size: int) -> None:
    with pytest.raises(DataError, match=f"validation size {size} must be in 0..199"):
        splits_of(200).split_validation(size=size)


# --- MNIST -------------------------------------------------------------------------------------


def test_mnist_loads_as_uint8_images_and_int64_labels(mnist: DatasetSplits) -> None:
    assert (len(mnist.train_full), len(mnist.test)) == (60000, 10000)
    assert mnist.train_full.images.shape == (60000, 28, 28) and mnist.train_full.images.dtype == np.uint8
    assert mnist.test.labels.dtype == np.int64
    assert mnist.classes == MNIST_CLASSES
    assert mnist.source == "cache"
    assert sum(mnist.train_full.class_counts()) == 60000


def test_loaded_images_are_read_only_so_the_shared_cache_cannot_be_corrupted(mnist: DatasetSplits) -> None:
    with pytest.raises(ValueError, match="read-only"):
        mnist.train_full.images[0, 0, 0] = 1


def test_mnist_without_fetch_and_without_cache_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run `digitlab data fetch`"):
        load_dataset("mnist", tmp_path, fetch=False)


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("DIGITLAB_DATA")
    assert data_root() == tmp_path / "xdg" / "digitlab"


# --- idx:DIR -----------------------------------------------------------------------------------


def write_idx_dir(directory: Path, n_train: int = 30, n_test: int = 10, n_classes: int = 3,
                  gz: bool = False, names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    y = (np.arange(n_train + n_test) % n_classes).astype(np.uint8)
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", x[:n_train])
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", y[:n_train])
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", x[n_train:])
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", y[n_train:])
    if names is not None:
        (directory / "classes.json").write_text(json.dumps(names))
    return x, y


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_dir_loads_with_class_names_from_classes_json(tmp_path: Path, gz: bool) -> None:
    x, y = write_idx_dir(tmp_path, gz=gz, names=["cat", "dog", "emu"])
    ds = load_dataset(f"idx:{tmp_path}")
    assert ds.classes == ("cat", "dog", "emu")
    np.testing.assert_array_equal(ds.train_full.images, x[:30])
    np.testing.assert_array_equal(ds.test.labels, y[30:])
    assert ds.test.classes == ds.classes
    assert ds.source == str(tmp_path)


def test_idx_dir_without_class_names_numbers_the_classes(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    assert load_dataset(f"idx:{tmp_path}").classes == MNIST_CLASSES  # at least 0..9
    write_idx_dir(tmp_path / "wide", n_classes=12)
    assert load_dataset(f"idx:{tmp_path / 'wide'}").classes == tuple(str(i) for i in range(12))


def test_idx_dir_label_beyond_classes_json_names_the_file(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, n_classes=3, names=["cat", "dog"])
    with pytest.raises(DataError, match="label 2 out of range 0..1") as info:
        load_dataset(f"idx:{tmp_path}")
    assert str(tmp_path / "train-images-idx3-ubyte") in str(info.value)
    assert "train-labels-idx1-ubyte" in str(info.value)


def test_idx_dir_count_mismatch_names_the_files(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(DataError, match="10 images but 9 labels") as info:
        load_dataset(f"idx:{tmp_path}")
    assert str(tmp_path / "t10k-images-idx3-ubyte") in str(info.value)


def test_idx_dir_float_labels_are_refused(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(30, np.float32) + 0.5)
    with pytest.raises(DataError, match="labels must be integers"):
        load_dataset(f"idx:{tmp_path}")


def test_idx_dir_rewritten_files_are_read_again(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, n_classes=3)
    labels = tmp_path / "train-labels-idx1-ubyte"
    assert load_dataset(f"idx:{tmp_path}").train_full.class_counts()[:3] == [10, 10, 10]
    mtime = labels.stat().st_mtime_ns
    write_idx(labels, np.zeros(30, np.uint8))
    os.utime(labels, ns=(mtime, mtime))  # same size and same mtime (as `cp -p` or a coarse clock gives)
    assert load_dataset(f"idx:{tmp_path}").train_full.class_counts()[:3] == [30, 0, 0]


@pytest.mark.parametrize(("setup", "message"), [
    ("missing dir", "not a directory"),
    ("missing file", "missing t10k-labels-idx1-ubyte[.gz]"),
    ("bad classes.json", "classes.json: not valid JSON"),
    ("classes.json not a list", "classes.json: expected a JSON list of class names"),
])
def test_idx_dir_problems_are_data_errors(tmp_path: Path, setup: str, message: str) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    write_idx_dir(directory)
    if setup == "missing dir":
        directory = tmp_path / "absent"
    elif setup == "missing file":
        (directory / "t10k-labels-idx1-ubyte").unlink()
    elif setup == "bad classes.json":
        (directory / "classes.json").write_text("[not json")
    else:
        (directory / "classes.json").write_text('{"0": "zero"}')
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_dataset(f"idx:{directory}")


def test_unknown_dataset_and_misplaced_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset 'kmnist'; use mnist, fashion-mnist, mnist-pieces or idx:DIR"):
        load_dataset("kmnist", tmp_path)
    with pytest.raises(DataError, match="apply to MNIST only"):
        datasets.resolve("fashion-mnist", tmp_path, sources=["mirror"])


# --- Fashion-MNIST -----------------------------------------------------------------------------


@needs_fashion
def test_fashion_mnist_loads_from_the_debian_package(tmp_path: Path) -> None:
    ds = load_dataset("fashion-mnist", tmp_path)  # nothing in tmp_path: falls back to the system copy
    assert ds.path == FASHION_DIR
    assert (len(ds.train_full), len(ds.test)) == (60000, 10000)
    assert ds.classes == FASHION_CLASSES and len(ds.classes) == 10
    assert ds.train_full.images.dtype == np.uint8 and ds.train_full.images.shape[1:] == (28, 28)
    # Fashion-MNIST is balanced by construction: 6000 and 1000 images per class.
    assert ds.train_full.class_counts() == [6000] * 10
    assert ds.test.class_counts() == [1000] * 10


def test_fashion_mnist_missing_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)


def test_fashion_mnist_in_the_data_root_comes_first(tmp_path: Path) -> None:
    write_idx_dir(tmp_path / "fashion-mnist", n_classes=10)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.path == tmp_path / "fashion-mnist"
    assert ds.classes == FASHION_CLASSES


# --- normalisation and batches -----------------------------------------------------------------


def test_normalization_presets() -> None:
    assert Normalization.named("none") == Normalization("none", 0.0, 1.0)
    assert set(PRESETS) == {"none", "mnist", "symmetric"}
    with pytest.raises(DataError, match="unknown normalisation 'zscore'; choose from none, mnist, symmetric"):
        Normalization.named("zscore")


def test_device_batches_cover_every_sample_once_in_a_seeded_order() -> None:
    import torch

    from digitlab.data.batches import DeviceBatches, to_tensor

    digits = small_digits([i % 10 for i in range(23)])
    plain = list(DeviceBatches(digits, batch_size=5))
    assert [len(y) for _, y in plain] == [5, 5, 5, 5, 3]
    assert plain[0][0].shape == (5, 1, 28, 28) and plain[0][0].dtype == torch.float32
    assert len(DeviceBatches(digits, batch_size=5, drop_last=True)) == 4

    def order(seed: int) -> list[int]:
        batches = DeviceBatches(digits, batch_size=4, shuffle=True, seed=seed)
        return [round(v * 255) for x, _ in batches for v in x[:, 0, 0, 0].tolist()]

    assert sorted(order(1)) == list(range(23))
    assert order(1) == order(1) and order(1) != order(2)

    x = to_tensor(np.array([[0, 255]], dtype=np.uint8).reshape(1, 1, 2), Normalization.named("symmetric"))
    assert x.flatten().tolist() == [-1.0, 1.0]
