"""Synthetic "photos" of MNIST digits: a deterministic test set for the real-image pipeline.

A 28x28 MNIST digit (light on black) becomes dark ink on white or tinted paper, on a larger canvas,
off-centre, slightly rotated, with thicker or thinner strokes, unevenly lit, a little blurred and
noisy, and JPEG-compressed. Numbers are several digits side by side with uneven sizes and spacing,
touching when the spacing is negative. Everything random comes from the numpy Generator passed in,
so a seed regenerates the same images (generate them in tests; never commit them).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

INK_COLOURS = np.array([  # RGB 0..1: black, blue-black, blue, red, green, pencil grey
    (0.05, 0.05, 0.06), (0.08, 0.10, 0.25), (0.10, 0.18, 0.55), (0.55, 0.08, 0.10),
    (0.08, 0.30, 0.15), (0.33, 0.33, 0.36),
], dtype=np.float32)
THICKNESS = (-0.035, 0.06)  # stroke width change, as a share of the digit height (MNIST's stroke: ~0.14)


def photo_digit(image28: np.ndarray, rng: np.random.Generator, *, canvas: tuple[int, int] = (100, 400),
                digit_share: tuple[float, float] = (0.3, 0.75), max_rotation: float = 12.0,
                thickness: tuple[float, float] = THICKNESS) -> Image.Image:
    """One MNIST digit as an RGB photo of dark ink on paper.

    The canvas' sides are drawn from ``canvas`` (pixels), the digit's height from ``digit_share`` of
    the shorter side; strokes grow (or shrink, negative) by ``thickness`` times the digit's height.
    ``image.info["digit_boxes"]`` holds the digit's ink box (left, top, right, bottom).
    """
    width, height = (int(v) for v in rng.integers(canvas[0], canvas[1] + 1, size=2))
    alpha = _ink_alpha(image28)
    digit_height = rng.uniform(*digit_share) * min(width, height)
    alpha = _draw_stroke(alpha, digit_height, _pen(rng, thickness), rng.uniform(-max_rotation, max_rotation))
    alpha = _shrink_to_fit(alpha, (height - 4, width - 4))
    top = int(rng.integers(0, height - alpha.shape[0] + 1))
    left = int(rng.integers(0, width - alpha.shape[1] + 1))
    sheet = np.zeros((height, width), dtype=np.float32)
    sheet[top: top + alpha.shape[0], left: left + alpha.shape[1]] = alpha
    photo = photograph(sheet, rng)
    photo.info["digit_boxes"] = [_ink_box(sheet)]
    return photo


def photo_number(images28: list[np.ndarray] | np.ndarray, rng: np.random.Generator, *,
                 digit_height: tuple[float, float] = (32, 90), gap: tuple[float, float] = (-0.05, 0.5),
                 size_jitter: float = 0.2, max_rotation: float = 8.0,
                 thickness: tuple[float, float] = THICKNESS) -> Image.Image:
    """Several MNIST digits written left to right as one RGB photo of a number.

    Each digit gets its own size (``digit_height`` px, times 1 +- ``size_jitter``), rotation and
    vertical offset; the space between neighbouring ink boxes is ``gap`` times the digit height
    (negative: the boxes overlap and strokes may touch). One pen writes all of them.
    ``image.info["digit_boxes"]`` holds each digit's ink box, left to right.
    """
    line_height = rng.uniform(*digit_height)
    pen = _pen(rng, thickness)
    glyphs = []
    for image28 in images28:
        size = line_height * rng.uniform(1.0 - size_jitter, 1.0 + size_jitter)
        glyphs.append(_draw_stroke(_ink_alpha(image28), size, pen, rng.uniform(-max_rotation, max_rotation)))
    gaps = rng.uniform(*gap, size=max(0, len(glyphs) - 1)) * line_height
    lefts = np.concatenate([[0.0], np.cumsum([g.shape[1] for g in glyphs[:-1]] + gaps)]).round().astype(int)
    lefts -= lefts.min()
    tops = (line_height * (1 + rng.uniform(-0.12, 0.12, size=len(glyphs)))
            - np.array([g.shape[0] for g in glyphs])).round().astype(int)  # bottoms near one baseline
    tops -= tops.min()
    margin_x, margin_y = (int(v) for v in rng.integers(8, int(line_height * 0.8) + 10, size=2))
    width = max(left + g.shape[1] for left, g in zip(lefts, glyphs, strict=True)) + 2 * margin_x
    height = max(top + g.shape[0] for top, g in zip(tops, glyphs, strict=True)) + 2 * margin_y
    sheet = np.zeros((height, width), dtype=np.float32)
    boxes = []
    for glyph, left, top in zip(glyphs, lefts + margin_x, tops + margin_y, strict=True):
        placed = np.zeros_like(sheet)
        placed[top: top + glyph.shape[0], left: left + glyph.shape[1]] = glyph
        np.maximum(sheet, placed, out=sheet)  # overlapping strokes: ink over ink stays ink
        boxes.append(_ink_box(placed))
    photo = photograph(sheet, rng)
    photo.info["digit_boxes"] = boxes
    return photo


def photograph(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Ink coverage (float 0..1, H x W) as an RGB photo: pen colour on tinted, textured paper, uneven
    light, a little defocus and sensor noise, then a JPEG round trip at quality 30..95."""
    height, width = ink.shape
    paper = rng.uniform(0.80, 1.0) * (1.0 + rng.uniform(-0.06, 0.04, size=3))
    colour = INK_COLOURS[rng.integers(len(INK_COLOURS))] + rng.uniform(-0.04, 0.04, size=3)
    coverage = ink * rng.uniform(0.75, 1.0)
    grain = ndimage.gaussian_filter(rng.normal(size=(height, width)), rng.uniform(0.6, 2.0))
    grain *= rng.uniform(0.005, 0.04) / max(float(grain.std()), 1e-6)
    sheet = (paper[None, None, :] * (1.0 + grain[..., None])) * (1.0 - coverage[..., None])
    sheet += colour[None, None, :] * coverage[..., None]
    sheet *= _lighting(height, width, rng)[..., None]
    blur = rng.uniform(0.0, 1.0)
    if blur > 0.3:
        sheet = ndimage.gaussian_filter(sheet, (blur, blur, 0))
    sheet += rng.normal(scale=rng.uniform(0.0, 0.02), size=sheet.shape)
    pixels = np.rint(np.clip(sheet, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=int(rng.integers(30, 96)))
    buffer.seek(0)
    photo = Image.open(buffer)
    photo.load()
    return photo


def _ink_alpha(image28: np.ndarray) -> np.ndarray:
    """The digit's ink (0..1) cropped to its bounding box."""
    alpha = np.asarray(image28, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if len(rows) == 0:
        raise ValueError("the digit image is blank")
    return alpha[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _pen(rng: np.random.Generator, thickness: tuple[float, float]) -> tuple[float, float]:
    """(edge level, thickness change as a fraction of the digit height): where the upscaled digit's
    soft edge is cut (crisp like a pen) and how much the stroke is then dilated (+) or eroded (-)."""
    return rng.uniform(0.3, 0.55), rng.uniform(*thickness)


def _draw_stroke(alpha: np.ndarray, height: float, pen: tuple[float, float], angle: float) -> np.ndarray:
    """Scale a digit to ``height`` px, sharpen its edge, change its stroke width, rotate it."""
    edge, thickness = pen
    factor = max(height, 8.0) / alpha.shape[0]
    size = (max(1, round(alpha.shape[1] * factor)), max(1, round(alpha.shape[0] * factor)))
    big = np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BICUBIC))
    softness = 0.12  # an edge about a pixel or two wide, as ink on paper photographed sharply
    big = np.clip((big - edge) / softness + 0.5, 0.0, 1.0)
    change = round(abs(thickness) * height)
    if change >= 2:
        big = np.pad(big, change)
        morphology = ndimage.grey_dilation if thickness > 0 else ndimage.grey_erosion
        big = morphology(big, size=(change, change))
    rotated = np.asarray(Image.fromarray(big.astype(np.float32)).rotate(angle, Image.Resampling.BICUBIC, expand=True))
    return _ink_alpha(np.clip(rotated, 0.0, 1.0) * 255.0)


def _shrink_to_fit(alpha: np.ndarray, limit: tuple[int, int]) -> np.ndarray:
    factor = min(1.0, limit[0] / alpha.shape[0], limit[1] / alpha.shape[1])
    if factor >= 1.0:
        return alpha
    size = (max(1, int(alpha.shape[1] * factor)), max(1, int(alpha.shape[0] * factor)))
    return np.clip(np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BICUBIC)), 0.0, 1.0)


def _lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Illumination 0..1: a linear gradient in a random direction times a vignette."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / max(height - 1, 1) - 0.5, xs / max(width - 1, 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)  # -0.7..0.7
    light = 1.0 - rng.uniform(0.0, 0.45) * (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    light *= 1.0 - rng.uniform(0.0, 0.35) * (xs**2 + ys**2) * 2.0
    return light


def _ink_box(ink: np.ndarray, level: float = 0.25) -> tuple[int, int, int, int]:
    strong = ink > level
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
