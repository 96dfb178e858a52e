"""The shortcuts that make preprocessing fast give what the library calls they replace would."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from scipy import ndimage

from digitlab.vision import find_ink, to_mnist
from digitlab.vision import ink as ink_module
from digitlab.vision import preprocess as preprocess_module


def histogram(grey: np.ndarray) -> np.ndarray:
    return np.bincount(grey.ravel(), minlength=256)


SHAPES = [(1, 1), (1, 7), (7, 1), (2, 3), (28, 28), (31, 58), (140, 97)]


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy_filters_are_the_library_filters_bit_for_bit(shape):
    rng = np.random.default_rng(sum(shape))
    grey = rng.integers(0, 256, shape, dtype=np.uint8)
    blurred = np.asarray(Image.fromarray(grey).filter(ImageFilter.BoxBlur(1)))
    np.testing.assert_array_equal(ink_module._box_blur(grey), blurred)
    mask = rng.random(shape) > 0.6
    np.testing.assert_array_equal(ink_module._grow(mask), ndimage.binary_dilation(mask, np.ones((3, 3), bool)))
    assert np.count_nonzero(preprocess_module._erode(mask)) == np.count_nonzero(ndimage.binary_erosion(mask))
    values = rng.random(shape).astype(np.float32).ravel()
    for q in (0.0, 0.1, 0.7, 0.9, 1.0):
        quantile = preprocess_module._quantile(values, q)
        assert quantile == np.quantile(values, q) and quantile.dtype == np.float32
    expected = np.quantile(grey.astype(np.float32) / 255.0, [0.01, 0.99])
    assert [ink_module._level_quantile(histogram(grey), q) for q in (0.01, 0.99)] == list(expected)


@pytest.mark.parametrize("shape", [(20, 20), (32, 32), (32, 75), (41, 32)])
def test_matrix_filters_are_scipys(shape):
    rng = np.random.default_rng(shape[1])
    coarse = rng.random(shape).astype(np.float32)
    height, width = shape
    pad = 13
    np.testing.assert_array_equal(ink_module._extend_odd(coarse, pad),
                                  np.pad(coarse, pad, mode="reflect", reflect_type="odd"))
    window = max(3, round(0.4 * min(shape)))
    uniform = (1.0 / window,) * window
    ours = ink_module._separable(coarse, ink_module._filter_matrix(height, uniform, "nearest", 0, height),
                                 ink_module._filter_matrix(width, uniform, "nearest", 0, width))
    np.testing.assert_allclose(ours, ndimage.uniform_filter(coarse, window, mode="nearest"), rtol=0, atol=1e-6)
    sigma = max(1.0, 0.04 * min(shape))
    gaussian = ink_module._gaussian_kernel(sigma)
    ours = ink_module._separable(coarse, ink_module._filter_matrix(height, gaussian, "reflect", 2, height - 3),
                                 ink_module._filter_matrix(width, gaussian, "reflect", 2, width - 3))
    np.testing.assert_allclose(ours, ndimage.gaussian_filter(coarse, sigma)[2:-3, 2:-3], rtol=0, atol=1e-6)


def canvas(mnist_digit: np.ndarray) -> np.ndarray:
    """An MNIST digit drawn as on a web canvas: dark on white, 280x280."""
    return 255 - np.asarray(Image.fromarray(mnist_digit).resize((280, 280), Image.Resampling.BILINEAR))


def test_flat_paper_is_recognised_only_in_drawings(mnist):
    digit = mnist.test.images[0]
    flat_paper = ink_module._flat_paper
    assert flat_paper(histogram(canvas(digit)), "auto") == (True, 1.0)
    assert flat_paper(histogram(digit), "auto") == (False, 1.0)  # MNIST: light ink on black
    assert flat_paper(histogram(canvas(digit)), "light") is None  # forced the wrong way: left to the estimate
    grain = np.random.default_rng(0).normal(0, 3, (280, 280))
    photo = np.clip(canvas(digit) * 0.8 + grain, 0, 255).astype(np.uint8)  # grey paper, with grain either way
    assert flat_paper(histogram(photo), "auto") is None
    assert flat_paper(histogram(np.full((50, 50), 255, np.uint8)), "auto") is None  # blank: no ink side


def shift_tolerant_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two digits, allowing the 1-pixel shift that rounding the centre of mass can make."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_a_drawing_reads_as_it_would_with_its_paper_estimated(mnist):
    """Flat paper skips the estimate; the same drawing under a gentle shade takes it: the same digit."""
    shade = np.linspace(0.9, 1.0, 280)[None, :]
    for digit in mnist.test.images[:20]:
        drawn = canvas(digit)
        shaded = (drawn * shade).astype(np.uint8)
        assert np.asarray(find_ink(drawn).paper).min() == 1.0
        assert np.ptp(np.asarray(find_ink(shaded).paper)) > 0.05
        flat, estimated = to_mnist(drawn), to_mnist(shaded)
        assert shift_tolerant_correlation(flat.image, estimated.image) > 0.98
        assert max(abs(a - b) for a, b in zip(flat.box, estimated.box, strict=True)) <= 4


@pytest.mark.parametrize("seed", range(4))
def test_lanczos_is_pillows(seed):
    """Pillow's coefficients; the matrix products may round the last bit of a float32 otherwise than Pillow."""
    from digitlab.vision.resample import lanczos

    rng = np.random.default_rng(seed)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(1, 90, 2))
        out_height, out_width = (int(v) for v in rng.integers(1, 30, 2))
        image = rng.random((height, width), dtype=np.float32) * (rng.random((height, width)) > 0.5)
        expected = np.asarray(Image.fromarray(image).resize((out_width, out_height), Image.Resampling.LANCZOS))
        ours = lanczos(image, (out_width, out_height))
        assert ours.dtype == np.float32 and ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, rtol=0, atol=2.5e-7)


def test_digits_come_out_as_with_pillows_lanczos(mnist, monkeypatch):
    """Through the whole normalisation, the last-bit differences leave the 28x28 digits as they were."""
    drawn = [canvas(d) for d in mnist.test.images[:40]]
    ours = [to_mnist(g).image for g in drawn]
    monkeypatch.setattr(preprocess_module, "lanczos", lambda image, size: np.asarray(
        Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)))
    pillows = [to_mnist(g).image for g in drawn]
    differing = [np.abs(a.astype(int) - b).max() for a, b in zip(ours, pillows, strict=True)]
    assert max(differing) <= 1 and sum(d > 0 for d in differing) <= 2, differing
