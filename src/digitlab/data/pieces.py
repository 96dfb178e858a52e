"""Segmentation pieces: the candidate crops that splitting a written number produces, labelled "one digit" or not.

The reader splits a blob of touching digits by trying cuts and asking a scorer how much each candidate piece
looks like a digit. The 10-class recognizer is a poor judge of that: it reads a 9 with a 1 touching it as a 9,
just as sure (it never saw anything but single digits). This dataset teaches a small verifier the difference.

Each sample is one candidate piece that ``digitlab.vision.segmentation`` itself proposes on a photo of a number
(``digitlab.vision.synthetic.photo_number``): the whole blob and every piece its cuts allow, as the same 28x28
crop the recognizer would read. Its label, from the digits' known ink boxes: **one-digit** when it holds one
digit's centre and matches that digit's box (IoU at least ``ONE_DIGIT_IOU``); **not-one-digit** when it holds
two or more digit centres (touching digits read as one) or none, or covers too little of its digit (a digit
cut in two); in between, the sample is left out.

The training split is drawn from MNIST's **training** images only; the test split from MNIST's test images, for
measurement. Evaluation sets (the photo and out-of-distribution benchmarks) never enter it.

>>> from digitlab.data import load_dataset
>>> pieces = make_pieces(load_dataset("mnist").test, numbers=20, seed=0)  # doctest: +SKIP
>>> pieces.classes
('not-one-digit', 'one-digit')
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.data.datasets import Digits
from digitlab.data.idx import write_idx

PIECE_CLASSES = ("not-one-digit", "one-digit")
ONE_DIGIT_IOU = 0.7  # a piece this close to one digit's box (and holding no other digit's centre) is that digit
PARTIAL_IOU = 0.45  # ... and one below this is part of a digit, cut off; in between, left out
LENGTHS = (2, 3, 4, 5, 6)
HEIGHTS = ((20, 60), (32, 90), (60, 180))  # digit heights in pixels: small, photo_number's default, large
TOUCHING = (-0.08, 0.1)  # gaps between neighbours (share of the digit height): touching and nearly touching ...
SPACED = (-0.05, 0.5)  # ... or photo_number's default spacing
TOUCHING_SHARE = 0.7  # numbers with touching neighbours, the rest spaced
TRAIN_NUMBERS, TEST_NUMBERS = 6000, 1000  # `digitlab data fetch -d mnist-pieces`: 55,933 and 9,067 pieces


def make_pieces(digits: Digits, numbers: int, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> Digits:
    """Label every candidate piece of ``numbers`` photos of numbers written with ``digits``' images."""
    from digitlab.vision.synthetic import photo_number

    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index in range(numbers):
        ids = rng.choice(len(digits), int(rng.choice(LENGTHS)), replace=False)
        gap = TOUCHING if rng.random() < TOUCHING_SHARE else SPACED
        height = HEIGHTS[int(rng.integers(len(HEIGHTS)))]
        photo = photo_number(list(digits.images[ids]), rng, digit_height=height, gap=gap)
        for image, label in label_pieces(photo, photo.info["digit_boxes"]):
            images.append(image)
            labels.append(label)
        if progress is not None:
            progress(index + 1, numbers)
    stacked = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    return Digits(stacked, np.asarray(labels, dtype=np.int64), PIECE_CLASSES)


def label_pieces(photo: object, digit_boxes: list[tuple[int, int, int, int]]) -> list[tuple[np.ndarray, int]]:
    """(28x28 crop, label) for each candidate piece segmentation proposes in ``photo``; ``digit_boxes``: each
    digit's ink box (left, top, right, bottom) in the photo's pixels."""
    from digitlab.vision import DEFAULT_MAX_PIXELS, WORK_SIDE, read_image
    from digitlab.vision.ink import find_ink
    from digitlab.vision.segmentation import CUT_COST, candidate_pieces

    decoded = read_image(photo, max_pixels=DEFAULT_MAX_PIXELS, max_side=WORK_SIDE)
    found = find_ink(decoded.grey)
    sx, sy = (decoded.scale * found.step * s for s in found.scale)  # photo pixels per analysis pixel
    truth = np.array([(b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy) for b in digit_boxes], dtype=np.float64)
    centres = (truth[:, 0] + truth[:, 2]) / 2
    samples = []
    for box, image in candidate_pieces(found, CUT_COST):
        label = _label(np.asarray(box, dtype=np.float64), truth, centres)
        if label is not None:
            samples.append((image, label))
    return samples


def _label(box: np.ndarray, truth: np.ndarray, centres: np.ndarray) -> int | None:
    """1 (one digit), 0 (not one digit) or None (unclear) for a piece's box (left, top, right, bottom)."""
    inside = np.flatnonzero((centres >= box[0]) & (centres <= box[2]))
    if len(inside) != 1:
        return 0
    digit = truth[inside[0]]
    overlap = max(0.0, min(box[2], digit[2]) - max(box[0], digit[0])) * max(
        0.0, min(box[3], digit[3]) - max(box[1], digit[1]))
    union = (box[2] - box[0]) * (box[3] - box[1]) + (digit[2] - digit[0]) * (digit[3] - digit[1]) - overlap
    iou = overlap / max(union, 1e-9)
    if iou >= ONE_DIGIT_IOU:
        return 1
    return 0 if iou < PARTIAL_IOU else None


def build_pieces(directory: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 train_numbers: int = TRAIN_NUMBERS, test_numbers: int = TEST_NUMBERS, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Make the ``mnist-pieces`` dataset in ``directory``: training pieces from MNIST's training images, test
    pieces from its test images (a few minutes on one core)."""
    from digitlab.data.datasets import load_dataset

    mnist = load_dataset("mnist", data_dir, progress=progress)
    say = progress or (lambda _: None)

    def tell(split: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            if done == total or done % 1000 == 0:
                say(f"pieces: {split} {done}/{total} numbers")
        return report

    train = make_pieces(mnist.train_full, train_numbers, seed, tell("train"))
    test = make_pieces(mnist.test, test_numbers, seed + 1, tell("test"))
    return write_pieces(directory, train, test)


def write_pieces(directory: str | os.PathLike, train: Digits, test: Digits) -> Path:
    """Write the two splits as IDX files with ``classes.json`` (``--dataset idx:DIR`` reads them), atomically:
    built in a temporary directory beside ``directory``, then renamed into place."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    for split, data in (("train", train), ("t10k", test)):
        write_idx(staging / f"{split}-images-idx3-ubyte", data.images)
        write_idx(staging / f"{split}-labels-idx1-ubyte", data.labels.astype(np.uint8))
    (staging / "classes.json").write_text(json.dumps(list(PIECE_CLASSES)) + "\n")
    if directory.exists():
        old = directory.with_name(f".{directory.name}-old-{os.getpid()}")
        directory.rename(old)
        staging.rename(directory)
        for path in old.iterdir():
            path.unlink()
        old.rmdir()
    else:
        staging.rename(directory)
    return directory
