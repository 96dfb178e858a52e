"""Find the ink in a grey photo: polarity, paper (background) level, and a mask of ink pixels.

Three resolutions keep this cheap on large photos:
- working: the input reduced by a whole factor to at most ``work_side`` pixels; digits are cut from it;
- analysis: the working image reduced by an integer step to at most ``ANALYSIS_SIDE``; the mask and
  its connected components live here;
- coarse: a short side of ``COARSE_SHORT_SIDE`` pixels; the paper level is estimated here, where a
  morphological closing wider than any stroke costs next to nothing.

Ink strength is measured relative to the paper (``(paper - pixel) / paper``), which removes uneven
lighting: a shadow darkens paper and ink alike, so their ratio stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from digitlab.errors import ImageError
from digitlab.vision.decode import as_grey

WORK_SIDE = 384  # longest side of the working image (at most; at least half): digits are cut from this
ANALYSIS_SIDE = 200  # longest side (at most) where the mask and components are found
COARSE_SHORT_SIDE = 32  # paper level is estimated on this grid
PAPER_WINDOW = 0.4  # closing width as a fraction of the short side: wider than any digit's stroke
PAPER_DIP = 0.06  # a coarse pixel this much darker than the closing holds ink, not paper
PAPER_SMOOTHING = 0.04  # paper level blur (sigma) as a fraction of the short side: lighting is smooth
CLEAR_POLARITY = 0.3  # ink's departure beats paper's by this share: polarity is clear without the border
MIN_CONTRAST = 0.15  # ink must be at least this much darker (relative to paper) than paper somewhere
MIN_THRESHOLD = 0.08  # never call anything fainter than this ink, whatever Otsu says

InkPolarity = Literal["auto", "dark", "light"]


class Box(NamedTuple):
    """A rectangle in pixels of the input image: right and bottom exclusive (as ``PIL.Image.crop``)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Box:
        """The box in an image ``factor`` times larger (``DecodedImage.scale`` maps a reduced decode back)."""
        return Box(math.floor(self.left * factor), math.floor(self.top * factor),
                   math.ceil(self.right * factor), math.ceil(self.bottom * factor))


@dataclass(frozen=True)
class InkImage:
    """The ink of one image; see ``find_ink``."""

    work: np.ndarray  # uint8 (H, W): the input at working resolution
    paper: Image.Image  # mode "F", coarse: paper level (0..1) with ink made dark
    ink: np.ndarray  # float32 (h, w) at analysis resolution: 0 paper .. 1 black ink
    mask: np.ndarray  # bool (h, w): ink pixels (Otsu on a blurred copy of ``ink``)
    step: int  # working pixels per analysis pixel
    scale: tuple[float, float]  # input pixels per working pixel, (x, y)
    input_size: tuple[int, int]  # (width, height) of the image given to find_ink
    threshold: float  # the ink level that separates ink from paper
    dark_ink: bool  # the input had dark ink on light paper (the usual photo)

    def input_box(self, top: int, bottom: int, left: int, right: int) -> Box:
        """An analysis-resolution rectangle in input-image pixels."""
        sx, sy = self.scale
        w, h = self.input_size
        return Box(max(0, math.floor(left * self.step * sx)), max(0, math.floor(top * self.step * sy)),
                   min(w, math.ceil(right * self.step * sx)), min(h, math.ceil(bottom * self.step * sy)))

    def ink_crop(self, top: int, bottom: int, left: int, right: int, region: np.ndarray | None = None) -> np.ndarray:
        """Ink strength (float32, 0..1) at working resolution inside an analysis-resolution rectangle.

        ``region`` (bool, the rectangle's shape at analysis resolution) keeps only the ink of that
        region, widened by one analysis pixel so anti-aliased stroke edges survive. Ink fainter than
        half the threshold is paper texture or noise and becomes 0; above it grey levels are kept.
        """
        s, (height, width) = self.step, self.work.shape
        top, bottom, left, right = top * s, min(bottom * s, height), left * s, min(right * s, width)
        grey = self.work[top:bottom, left:right].astype(np.float32) / 255.0
        if not self.dark_ink:
            grey = 1.0 - grey
        across, down = self.paper.width / width, self.paper.height / height  # coarse pixels per working pixel
        paper = np.asarray(self.paper.resize((right - left, bottom - top), Image.Resampling.BILINEAR,
                                             box=(left * across, top * down, right * across, bottom * down)))
        floor = 0.5 * self.threshold
        ink = np.clip((relative_ink(grey, paper) - floor) / (1.0 - floor), 0.0, 1.0)
        if region is not None:
            keep = ndimage.binary_dilation(region, np.ones((3, 3), bool))
            if s > 1:
                keep = keep.repeat(s, axis=0).repeat(s, axis=1)
            ink *= keep[: ink.shape[0], : ink.shape[1]]
        return ink


def find_ink(grey: np.ndarray, *, polarity: InkPolarity = "auto", work_side: int = WORK_SIDE) -> InkImage:
    """Locate ink in a grey image (any size; uint8, or float as ``as_grey`` reads it).

    ``polarity``: "dark" ink on light paper, "light" ink on dark ground (MNIST itself), or "auto" to
    decide from which side of the paper level the strongest features lie. Raises ImageError when the
    image holds no ink (blank, or nothing clearly darker/lighter than its surroundings).
    """
    if polarity not in ("auto", "dark", "light"):
        raise ImageError(f"polarity must be auto, dark or light, got {polarity!r}")
    grey = as_grey(grey)
    input_size = (grey.shape[1], grey.shape[0])
    work = Image.fromarray(grey)
    if max(work.size) > work_side:  # box-average whole blocks: between half and all of work_side
        work = work.reduce(math.ceil(max(work.size) / work_side))
    scale = (input_size[0] / work.width, input_size[1] / work.height)
    step = max(1, math.ceil(max(work.size) / ANALYSIS_SIDE))
    small = work.reduce(step) if step > 1 else work
    coarse_factor = max(1.0, min(small.size) / COARSE_SHORT_SIDE)
    coarse = small.resize((max(1, round(small.width / coarse_factor)), max(1, round(small.height / coarse_factor))),
                          Image.Resampling.BOX) if coarse_factor > 1 else small

    coarse_f = np.asarray(coarse, dtype=np.float32) / 255.0
    small_f = np.asarray(small, dtype=np.float32) / 255.0
    dark_ink = _dark_ink(small_f, coarse_f, small.size) if polarity == "auto" else polarity == "dark"
    if not dark_ink:  # from here on, ink is dark
        coarse_f, small_f = 1.0 - coarse_f, 1.0 - small_f
    paper = Image.fromarray(_paper_level(coarse_f))
    ink = relative_ink(small_f, np.asarray(paper.resize(small.size, Image.Resampling.BILINEAR)))

    # Otsu on a blurred copy: blur removes JPEG ringing and paper grain that would speckle the mask.
    blurred = np.asarray(Image.fromarray((ink * 255.0 + 0.5).astype(np.uint8)).filter(ImageFilter.BoxBlur(1)))
    histogram = np.bincount(blurred.ravel(), minlength=256)
    strongest = _percentile_from_histogram(histogram, 99.9) / 255.0
    if strongest < MIN_CONTRAST:
        raise ImageError("no ink found (the image is blank or has too little contrast)")
    threshold = max(otsu_threshold(histogram) / 255.0, MIN_THRESHOLD)
    mask = blurred > round(threshold * 255.0)
    if not mask.any():
        raise ImageError("no ink found")
    return InkImage(np.asarray(work), paper, ink, mask, step, scale, input_size, threshold, dark_ink)


def relative_ink(grey: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """How much darker than its paper each pixel is, 0..1 (1 = black)."""
    return np.clip((paper - grey) / np.maximum(paper, 0.04), 0.0, 1.0)  # dark paper: no contrast, no ink


def otsu_threshold(histogram: np.ndarray) -> float:
    """The bin index (a level between two classes) that maximises the between-class variance."""
    counts = histogram.astype(np.float64)
    levels = np.arange(len(counts), dtype=np.float64)
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * levels)
    mean_low = sum_low / np.maximum(weight_low, 1e-12)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1e-12)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(np.argmax(between)) + 0.5


def _percentile_from_histogram(histogram: np.ndarray, q: float) -> float:
    cumulative = np.cumsum(histogram)
    return float(np.searchsorted(cumulative, cumulative[-1] * q / 100.0))


def _dark_ink(small: np.ndarray, coarse: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether the ink is darker than the paper.

    Relative to the local mean brightness (which follows uneven light), ink departs far in one
    direction while paper departs little in the other: compare the darkest and the lightest 0.1%.
    Where bold strokes make that close, the border decides: it is paper, on the light or dark side.
    """
    window = max(3, round(PAPER_WINDOW * min(coarse.shape)))
    local_mean = Image.fromarray(ndimage.uniform_filter(coarse, window, mode="nearest"))
    departure = small - np.asarray(local_mean.resize(size, Image.Resampling.BILINEAR))
    histogram = np.bincount(np.clip((departure + 1.0) * 255.0, 0, 510).astype(np.int64).ravel(), minlength=511)
    darkest = 255.0 - _percentile_from_histogram(histogram, 0.1)
    lightest = _percentile_from_histogram(histogram, 99.9) - 255.0
    if abs(darkest - lightest) >= CLEAR_POLARITY * max(darkest, lightest, 1.0):
        return darkest > lightest
    ring = max(1, round(0.05 * min(small.shape)))
    border = np.concatenate([small[:ring].ravel(), small[-ring:].ravel(), small[:, :ring].ravel(),
                             small[:, -ring:].ravel()])
    low, high = np.quantile(small, [0.01, 0.99])
    return bool(np.median(border) > (low + high) / 2)


def _paper_level(coarse: np.ndarray) -> np.ndarray:
    """The paper's brightness everywhere (ink dark), from a coarse image.

    A closing wider than any stroke gives the paper level under the ink, but biased up by noise (it
    takes local maxima); so it only decides which coarse pixels hold ink, and the paper level is the
    local mean of the others (normalised convolution), which also fills in under the ink. The image
    is first extended by odd reflection (continuing its slope), so light falling off towards an edge
    does not look like a dark stroke along it, and smoothing does not flatten the fall-off.
    """
    window = max(3, round(PAPER_WINDOW * min(coarse.shape)))
    sigma = max(1.0, PAPER_SMOOTHING * min(coarse.shape))
    pad = max(window, math.ceil(3 * sigma))
    extended = np.pad(coarse, pad, mode="reflect", reflect_type="odd")
    closed = ndimage.grey_closing(extended, size=window)
    weight = np.clip(1.0 - (closed - extended) / PAPER_DIP, 0.0, 1.0)
    total = ndimage.gaussian_filter(weight, sigma)
    paper = ndimage.gaussian_filter(extended * weight, sigma) / np.maximum(total, 1e-6)
    paper = np.where(total > 0.05, paper, closed)[pad:-pad, pad:-pad]
    return np.clip(paper, 0.0, 1.0).astype(np.float32)
