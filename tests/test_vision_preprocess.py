"""Finding the ink and normalising one digit the way MNIST was made."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitlab.errors import ImageError
from digitlab.vision import find_ink, load_image, normalize_digit, read_image, to_mnist
from digitlab.vision.synthetic import photo_digit


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(np.float64)
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    return float((weights * rows).sum() / weights.sum()), float((weights * cols).sum() / weights.sum())


def ink_extent(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def shift_tolerant_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two centred digits, allowing the 1-pixel disagreement that rounding the
    centre of mass to whole pixels can cause."""
    flat_b = b.ravel().astype(np.float64)
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel().astype(np.float64), flat_b)[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def paper_with(draw, size=(240, 300), paper=245, ink=20, width=10) -> np.ndarray:
    image = Image.new("L", size, paper)
    draw(ImageDraw.Draw(image), ink, width)
    return np.asarray(image)


STROKES = {  # a 1, a 7 and a 0 as someone might draw them on the web page, with their bounding boxes
    "1": (lambda d, ink, w: d.line([(150, 60), (140, 250)], fill=ink, width=w), (140, 60, 150, 250)),
    "7": (lambda d, ink, w: d.line([(60, 70), (170, 70), (100, 260)], fill=ink, width=w, joint="curve"),
          (60, 70, 170, 260)),
    "0": (lambda d, ink, w: d.ellipse([70, 60, 180, 250], outline=ink, width=w), (70, 60, 180, 250)),
}


def test_an_mnist_digit_comes_back_as_itself(mnist):
    images = mnist.test.images[:60]
    scores = [shift_tolerant_correlation(to_mnist(image).image, image) for image in images]
    assert np.mean(np.array(scores) > 0.95) >= 0.95


def test_polarity_is_detected_both_ways(mnist):
    light_on_dark = mnist.test.images[7]
    dark_on_light = 255 - light_on_dark
    assert find_ink(light_on_dark).dark_ink is False
    assert find_ink(dark_on_light).dark_ink is True
    np.testing.assert_array_equal(to_mnist(dark_on_light).image, to_mnist(light_on_dark).image)
    np.testing.assert_array_equal(to_mnist(dark_on_light, polarity="dark").image, to_mnist(dark_on_light).image)


def test_forcing_the_wrong_polarity_reads_the_paper_as_ink():
    image = paper_with(STROKES["1"][0])
    right = to_mnist(image)
    wrong = to_mnist(image, polarity="light")
    assert ink_extent(right.image)[1] < 12  # a thin 1
    assert not np.array_equal(wrong.image, right.image)


def photo_scores(mnist, seed: int, count: int, **distortion) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = []
    for index in rng.choice(len(mnist.test), count, replace=False):
        photo = photo_digit(mnist.test.images[index], rng, **distortion)
        scores.append(shift_tolerant_correlation(to_mnist(load_image(photo)).image, mnist.test.images[index]))
    return np.array(scores)


def test_photos_of_mnist_digits_come_back_as_the_original(mnist):
    # Paper, light, blur, noise, JPEG, size and place vary; the digit's shape does not.
    scores = photo_scores(mnist, 11, 40, max_rotation=0.0, thickness=(0.0, 0.0))
    assert np.mean(scores > 0.8) >= 0.9, np.round(scores, 2)


def test_rotated_and_restroked_photos_stay_close_to_the_original(mnist):
    scores = photo_scores(mnist, 12, 40)
    assert np.median(scores) > 0.8, np.round(scores, 2)


def test_the_box_is_where_the_digit_was_drawn(mnist):
    rng = np.random.default_rng(3)
    for index in range(10):
        photo = photo_digit(mnist.test.images[index], rng)
        box = to_mnist(load_image(photo)).box
        left, top, right, bottom = photo.info["digit_boxes"][0]
        tolerance = 0.1 * max(right - left, bottom - top) + 3
        assert abs(box.left - left) <= tolerance and abs(box.right - right) <= tolerance
        assert abs(box.top - top) <= tolerance and abs(box.bottom - bottom) <= tolerance


@pytest.mark.parametrize("name", list(STROKES))
@pytest.mark.parametrize("width", [3, 12, 30])
def test_drawn_digits_are_scaled_to_20_px_and_centred_by_mass(name, width):
    draw, (left, top, right, bottom) = STROKES[name]
    result = to_mnist(paper_with(draw, width=width))
    height, span = ink_extent(result.image)
    assert max(height, span) in (20, 21)  # longest side 20, plus anti-aliased edge pixels
    cy, cx = centre_of_mass(result.image)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    margin = width // 2 + 3
    assert abs(result.box.left - left) <= margin and abs(result.box.right - right) <= margin
    assert abs(result.box.top - top) <= margin and abs(result.box.bottom - bottom) <= margin
    assert result.image.max() == 255


def test_hairline_strokes_are_thickened_towards_mnist_width():
    thin = to_mnist(paper_with(STROKES["0"][0], width=2)).image
    bold = to_mnist(paper_with(STROKES["0"][0], width=24)).image
    thin_mass, bold_mass = thin.sum() / 255, bold.sum() / 255
    assert thin_mass > 0.5 * bold_mass  # a 2-px line on a 190-px digit would be a 0.2-px hairline


def ring(stroke: float, radius: float = 40.0, side: int = 120) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side] + 0.5
    distance = np.abs(np.hypot(yy - side / 2, xx - side / 2) - radius)
    return np.clip(stroke / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def test_marker_strokes_are_thinned_half_way_and_loops_stay_open():
    from digitlab.vision.preprocess import MAX_STROKE, THIN_TOWARDS, stroke_width

    box = 2 * 40 + 24  # the ring's outer diameter at a 24-px stroke: its longest side becomes 20 px
    drawn = 24 * 20 / box  # about 4.6 output pixels: wider than MAX_STROKE
    assert drawn > MAX_STROKE
    out = normalize_digit(ring(24.0))
    width = stroke_width(out / 255.0)
    assert THIN_TOWARDS < width < drawn - 0.3 * (drawn - THIN_TOWARDS)
    assert out[14, 14] == 0  # the hole is still a hole


def test_ordinary_strokes_keep_their_width():
    from digitlab.vision.preprocess import stroke_width

    drawn = 12 * 20 / (2 * 40 + 12)  # about 2.6 output pixels, MNIST's median
    assert stroke_width(normalize_digit(ring(12.0)) / 255.0) == pytest.approx(drawn, abs=0.5)


def test_the_shape_keeps_its_aspect_ratio():
    wide_bar = paper_with(lambda d, ink, w: d.rectangle([40, 120, 200, 160], fill=ink))
    assert ink_extent(to_mnist(wide_bar).image) == (pytest.approx(5, abs=1), 20)


def test_specks_do_not_move_the_box():
    draw = STROKES["7"][0]
    clean = paper_with(draw)
    specked = clean.copy()
    for y, x in [(10, 10), (280, 220), (20, 200)]:
        specked[y: y + 3, x: x + 3] = 30
    assert to_mnist(specked).box == to_mnist(clean).box


def test_uneven_lighting_is_removed():
    image = paper_with(STROKES["0"][0], ink=70)
    light = np.linspace(0.15, 1.0, image.shape[1])[None, :] * np.linspace(0.8, 1.0, image.shape[0])[:, None]
    shaded = np.clip(image * light, 0, 255).astype(np.uint8)
    assert shaded[:, 0].max() < shaded[155, 175]  # paper in the shade is darker than ink in the light
    np.testing.assert_allclose(to_mnist(shaded).box, to_mnist(image).box, atol=3)


def test_a_reduced_decode_gives_the_same_box_in_full_image_pixels(tmp_path):
    draw = STROKES["7"][0]
    big = Image.fromarray(paper_with(draw, size=(240, 300))).resize((960, 1200), Image.Resampling.BICUBIC)
    path = tmp_path / "seven.jpg"
    big.save(path, quality=90)
    full = to_mnist(load_image(path)).box
    decoded = read_image(path, max_side=300)
    reduced = to_mnist(decoded.grey).box
    assert max(abs(a - b) for a, b in zip(reduced.scaled(decoded.scale), full, strict=True)) <= 2 * decoded.scale + 2


@pytest.mark.parametrize("image", [
    np.full((60, 80), 255, np.uint8),
    np.full((60, 80), 128, np.uint8),
    np.zeros((60, 80), np.uint8),
    np.zeros((1, 1), np.uint8),
    np.clip(np.random.default_rng(0).normal(215, 5, (200, 200)), 0, 255).astype(np.uint8),  # textured paper
    np.tile(np.linspace(90, 250, 300), (200, 1)).astype(np.uint8),  # empty paper, lit from one side
], ids=["white", "grey", "black", "one-pixel", "paper-grain", "gradient"])
def test_blank_images_have_no_ink(image):
    with pytest.raises(ImageError, match="no ink"):
        to_mnist(image)


def test_normalize_digit_scales_and_centres_any_ink():
    dot = np.zeros((50, 50), np.float32)
    dot[20:23, 30:33] = 1.0
    assert ink_extent(normalize_digit(dot)) == (20, 20)
    with pytest.raises(ImageError, match="no ink"):
        normalize_digit(np.zeros((5, 5), np.float32))
