"""Datasets in memory: uint8 images (N, 28, 28) and int64 labels, as numpy arrays.

numpy (not torch) at this level keeps the from-scratch NumPy model free of torch; the batch
iterator in ``digitlab.data.batches`` puts them on the training device without a copy on CPU.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.data.idx import check_pair, read_idx
from digitlab.data.mnist_sources import SOURCES, fetch_mnist
from digitlab.errors import DataError

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
LAYOUT = {  # split -> (images stem, labels stem); each file may be raw or .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
VALIDATION_SIZE = 5000


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $DIGITLAB_DATA, else $XDG_CACHE_HOME/digitlab (default ~/.cache/digitlab)."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("DIGITLAB_DATA"):
        return Path(os.environ["DIGITLAB_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "digitlab"


@dataclass(frozen=True)
class Digits:
    """One split: images uint8 (N, 28, 28), labels int64 (N,), and the class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] = MNIST_CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray | slice) -> Digits:
        return Digits(self.images[index], self.labels[index], self.classes)

    def select(self, classes: list[int] | None = None, per_class: int | None = None,
               limit: int | None = None) -> Digits:
        """Keep only ``classes``, the first ``per_class`` of each (in file order), then the first ``limit``.

        Seed 000 takes "the first 400 zeros and the first 400 ones": ``select([0, 1], per_class=400)``.
        """
        keep = np.ones(len(self), dtype=bool)
        if classes is not None:
            bad = [c for c in classes if not 0 <= c < len(self.classes)]
            if bad:
                raise DataError(f"class {bad[0]} out of range 0..{len(self.classes) - 1}")
            keep &= np.isin(self.labels, classes)
        if per_class is not None:
            if per_class < 1:
                raise DataError(f"per-class count must be at least 1, got {per_class}")
            rank = np.zeros(len(self), dtype=np.int64)
            for c in np.unique(self.labels[keep]):
                where = np.flatnonzero(keep & (self.labels == c))
                rank[where] = np.arange(len(where))
            keep &= rank < per_class
        index = np.flatnonzero(keep)
        if limit is not None:
            if limit < 1:
                raise DataError(f"limit must be at least 1, got {limit}")
            index = index[:limit]
        return self.take(index)

    def relabel(self, classes: list[int]) -> Digits:
        """The same images with labels mapped to positions in ``classes`` (a k-class problem)."""
        lookup = np.full(len(self.classes), -1, dtype=np.int64)
        lookup[list(classes)] = np.arange(len(classes))
        labels = lookup[self.labels]
        if (labels < 0).any():
            raise DataError(f"relabel: images of classes outside {list(classes)} are present")
        return Digits(self.images, labels, tuple(self.classes[c] for c in classes))

    def class_counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's train (incl. validation), validation-carved train, and test splits."""

    name: str
    path: Path
    train_full: Digits
    test: Digits
    source: str = "files"
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train_full.classes

    def split_validation(self, size: int = VALIDATION_SIZE, seed: int | None = None) -> tuple[Digits, Digits]:
        """(train, validation). Default: the last ``size`` images form a fixed holdout;
        with ``seed``, a seeded random subset instead."""
        n = len(self.train_full)
        if not 0 <= size < n:
            raise DataError(f"validation size {size} must be in 0..{n - 1}")
        if seed is None:
            order = np.arange(n)
        else:
            order = np.random.default_rng(seed).permutation(n)
        train_idx, val_idx = np.sort(order[: n - size]), np.sort(order[n - size:])
        return self.train_full.take(train_idx), self.train_full.take(val_idx)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory}: missing {stem}[.gz]")


def has_layout(directory: Path) -> bool:
    return all((directory / (stem + ".gz")).is_file() or (directory / stem).is_file()
               for pair in LAYOUT.values() for stem in pair)


@functools.lru_cache(maxsize=4)
def _read_split_cached(images_path: Path, labels_path: Path, stamps: tuple[int, ...]) -> tuple:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    images.setflags(write=False)  # shared by every caller of this cache: nobody may modify it in place
    return images, labels


def _stamp(path: Path) -> tuple[int, int, int]:
    """Changes whenever the file is rewritten: an atomic rewrite is a new inode even within one mtime tick."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def read_split(directory: Path, split: str, classes: tuple[str, ...] | None) -> Digits:
    images_stem, labels_stem = LAYOUT[split]
    ip, lp = _find(directory, images_stem), _find(directory, labels_stem)
    images, labels = _read_split_cached(ip, lp, _stamp(ip) + _stamp(lp))
    if classes is None:
        classes = tuple(str(i) for i in range(max(10, int(labels.max(initial=0)) + 1)))
    check_pair(images, labels, len(classes), f"{ip}, {lp.name}")
    return Digits(images, labels.astype(np.int64), classes)


def _class_names_beside(directory: Path) -> tuple[str, ...] | None:
    path = directory / "classes.json"
    if not path.exists():
        return None
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise DataError(f"{path}: expected a JSON list of class names")
    return tuple(names)


def resolve(dataset: str, data_dir: str | os.PathLike | None = None, fetch: bool = True,
            progress=None, sources: Sequence[str] | None = None,
            mirrors: Sequence[str] | None = None) -> tuple[Path, str, tuple[str, ...] | None, dict[str, str]]:
    """(directory, source, class names, checksums) for a dataset spec: mnist, fashion-mnist, mnist-pieces (segmentation
    pieces made from MNIST, ``digitlab.data.pieces``) or idx:DIR.

    ``sources`` and ``mirrors`` choose where MNIST may come from (see ``fetch_mnist``); default: all of them.
    """
    root = data_root(data_dir)
    if (sources or mirrors) and dataset != "mnist":
        raise DataError(f"sources and mirrors apply to MNIST only, not to {dataset!r}")
    if dataset == "mnist":
        directory = root / "mnist"
        if fetch:
            result = fetch_mnist(directory, sources=sources or SOURCES, mirrors=mirrors or None,
                                 progress=progress or (lambda _: None))
            return directory, result.source, MNIST_CLASSES, result.md5
        from digitlab.data.mnist_sources import cached
        manifest = cached(directory)
        if manifest is None:
            raise DataError(f"MNIST is not in {directory}; run `digitlab data fetch`")
        return directory, "cache", MNIST_CLASSES, {k: v["md5"] for k, v in manifest["files"].items()}
    if dataset == "fashion-mnist":
        for directory in (root / "fashion-mnist", DEBIAN_FASHION_DIR):
            if has_layout(directory):
                return directory, str(directory), FASHION_CLASSES, {}
        raise DataError(f"Fashion-MNIST not found in {root / 'fashion-mnist'} or {DEBIAN_FASHION_DIR} "
                        "(install it with `apt-get install dataset-fashion-mnist`)")
    if dataset == "mnist-pieces":  # derived from MNIST (training pieces from its training split), built once
        directory = root / "mnist-pieces"
        if not has_layout(directory):
            if not fetch:
                raise DataError(f"the pieces dataset is not in {directory}; run `digitlab data fetch -d mnist-pieces`")
            from digitlab.data.pieces import build_pieces

            build_pieces(directory, data_dir, progress=progress)
        return directory, str(directory), _class_names_beside(directory), {}
    if dataset.startswith("idx:"):
        directory = Path(dataset[4:]).expanduser()
        if not directory.is_dir():
            raise DataError(f"{directory}: not a directory")
        return directory, str(directory), _class_names_beside(directory), {}
    raise DataError(f"unknown dataset {dataset!r}; use mnist, fashion-mnist, mnist-pieces or idx:DIR")


def load_dataset(dataset: str = "mnist", data_dir: str | os.PathLike | None = None,
                 fetch: bool = True, progress=None) -> DatasetSplits:
    """Load a dataset's train and test splits into memory (fetching MNIST on first use)."""
    directory, source, classes, checksums = resolve(dataset, data_dir, fetch, progress)
    train = read_split(directory, "train", classes)
    test = read_split(directory, "test", train.classes)
    return DatasetSplits(dataset, directory, train, test, source, checksums)
