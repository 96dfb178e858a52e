"""The synthetic photo generator: deterministic, and photo-like in the ways the pipeline must handle."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitlab.vision.synthetic import photo_digit, photo_number


def test_same_seed_same_photos(mnist):
    digits = mnist.test.images[:5]
    first = [photo_digit(digits[0], np.random.default_rng(4)), photo_number(list(digits), np.random.default_rng(4))]
    again = [photo_digit(digits[0], np.random.default_rng(4)), photo_number(list(digits), np.random.default_rng(4))]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert a.info["digit_boxes"] == b.info["digit_boxes"]
    other = photo_digit(digits[0], np.random.default_rng(5))
    assert np.asarray(other).shape != np.asarray(first[0]).shape or not np.array_equal(other, first[0])


def test_a_photo_is_dark_ink_on_lighter_paper_inside_its_box(mnist):
    rng = np.random.default_rng(0)
    for image28 in mnist.test.images[:20]:
        photo = photo_digit(image28, rng)
        assert isinstance(photo, Image.Image) and photo.mode == "RGB"
        assert 100 <= photo.width <= 400 and 100 <= photo.height <= 400
        grey = np.asarray(photo.convert("L"), dtype=np.float64)
        left, top, right, bottom = photo.info["digit_boxes"][0]
        assert 0 <= left < right <= photo.width and 0 <= top < bottom <= photo.height
        inside = grey[top:bottom, left:right]
        outside = np.concatenate([grey[:top].ravel(), grey[bottom:].ravel(), grey[:, :left].ravel(),
                                  grey[:, right:].ravel()])
        assert np.percentile(inside, 5) < np.median(outside) - 40


def test_photos_vary_in_size_place_and_lighting(mnist):
    rng = np.random.default_rng(1)
    photos = [photo_digit(mnist.test.images[0], rng) for _ in range(12)]
    assert len({p.size for p in photos}) > 6
    centres = [((b[0] + b[2]) / 2 / p.width, (b[1] + b[3]) / 2 / p.height)
               for p in photos for b in p.info["digit_boxes"]]
    assert np.std(centres, axis=0).min() > 0.05  # not always in the middle
    paper_levels = [np.median(np.asarray(p.convert("L"))) for p in photos]
    assert np.ptp(paper_levels) > 15


def test_numbers_have_their_digits_left_to_right(mnist):
    rng = np.random.default_rng(2)
    photo = photo_number(list(mnist.test.images[:5]), rng, gap=(0.2, 0.4))
    boxes = photo.info["digit_boxes"]
    assert len(boxes) == 5
    assert all(a[2] < b[0] for a, b in zip(boxes[:-1], boxes[1:], strict=True))  # positive gaps: apart
    heights = [b[3] - b[1] for b in boxes]
    assert max(heights) > 1.1 * min(heights)  # sizes vary
    touching = photo_number(list(mnist.test.images[:5]), rng, gap=(-0.1, -0.05)).info["digit_boxes"]
    assert all(a[2] > b[0] for a, b in zip(touching[:-1], touching[1:], strict=True))  # boxes overlap
