"""Split a written number into its digits, left to right.

Connected components of the ink mask are the starting guess, then corrected for the two ways
handwriting breaks it: one digit in several pieces (a 5 whose top stroke is detached) and several
digits in one piece (touching neighbours). Sizes are judged against the line's own digits, so a
line of small or large, tight or loose digits is handled alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digitlab.vision.ink import WORK_SIDE, InkImage, InkPolarity, find_ink
from digitlab.vision.preprocess import EIGHT_CONNECTED, DigitCrop, digit_from_region, to_mnist

SPECK_SHARE = 0.04  # less ink than this share of a typical digit: dust or noise, dropped at once
FRAGMENT_SHARE = 0.5  # less ink than this share of a typical digit (or short, below) may be a broken piece
FRAGMENT_HEIGHT = 0.6  # ... or lower than this share of the line height
MERGE_OVERLAP = 0.5  # a fragment joins the digit it overlaps horizontally by this share of the narrower one
SHORT_MERGE_OVERLAP = 0.25  # ... a short fragment (a detached top stroke) already at this share
NEAR_GAP = 0.3  # or, overlapping none, the digit whose ink is within this share of the line height
LONE_SHARE = 0.15  # a small, short piece that joined nothing is a stray mark, dropped
DIGIT_ASPECT = 0.8  # width / height of a typical digit (MNIST's median)
DIGIT_FILL = 0.3  # ink area / height^2 of a typical digit in the mask (MNIST photos: median 0.29, a 1: 0.15)
SPLIT_ASPECT = 1.0  # only a piece wider than this times its height may hold several digits
PIECE_SHARE = 0.3  # a piece cut off a wide group needs this share of a typical digit's ink ...
PIECE_HEIGHT = 0.6  # ... and a connected part this share of the group's height
CUT_COST = 1.0  # cost of a cut through one stroke (where two digits touch) ...
EXTRA_STROKE_COST = 1.6  # ... plus this for every further stroke it cuts (through a 0 or an 8)
WIDE_COST = 6.0  # cost of a digit k times wider than typical: WIDE_COST * log(k)^2 ...
NARROW_COST = 1.0  # ... and of one k times narrower (a 1 is narrow; a run of touching digits is wide)
AMBIGUITY = 2.0  # readings of a group closer than this in cost are left to the scorer, if given
RECOGNITION_WEIGHT = 1.0  # cost of one nat of the scorer's doubt (-log confidence) per digit
MULTI_ASPECT = 1.6  # ink this much wider than tall is a number, whatever its pieces

Scorer = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) uint8 digits -> (N,) confidence of the best class


@dataclass
class _Group:
    """Connected components that form one digit (or more, until split), analysis resolution."""

    labels: list[int]
    top: int
    bottom: int
    left: int
    right: int
    area: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def join(self, other: _Group) -> None:
        self.labels += other.labels
        self.top, self.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        self.left, self.right = min(self.left, other.left), max(self.right, other.right)
        self.area += other.area


@dataclass
class _Line:
    """A line of writing: component labels, the digit groups left to right, and its scale."""

    labels: np.ndarray
    groups: list[_Group]
    height: float  # median height of its substantial pieces: a digit's height
    typical_area: float  # ink area (mask pixels) of a typical digit: median of the substantial pieces, capped


def segment(grey: np.ndarray | InkImage, *, polarity: InkPolarity = "auto", work_side: int = WORK_SIDE,
            scorer: Scorer | None = None) -> list[DigitCrop]:
    """The digits of a one-line number, left to right, each as (box, 28x28 MNIST image).

    Geometry alone cannot always tell a wide digit from two touching ones (a broad 2 or 5 against
    a 98 written close). ``scorer`` resolves those cases by recognition: given a batch of 28x28
    uint8 digits it returns each one's confidence (the winning class probability). Where the two
    readings of a group cost about the same, the one whose digits the scorer is surer of wins.
    """
    found = grey if isinstance(grey, InkImage) else find_ink(grey, polarity=polarity, work_side=work_side)
    line = _read_line(found)
    digits = []
    for group in line.groups:
        in_group = np.isin(line.labels, group.labels)
        options = _split_options(group, in_group, line)
        if scorer is None or len(options) == 1 or options[1][0] - options[0][0] >= AMBIGUITY:
            options = options[:1]
        readings = [[_cut(found, in_group, left, right) for left, right in ranges] for _, ranges in options]
        costs = [cost for cost, _ in options]
        if len(options) > 1:
            for k, reading in enumerate(readings):
                confidence = np.asarray(scorer(np.stack([digit.image for digit in reading])), dtype=np.float64)
                costs[k] += RECOGNITION_WEIGHT * float(-np.log(np.clip(confidence, 1e-6, 1.0)).sum())
        digits += readings[int(np.argmin(costs))]
    return sorted(digits, key=lambda digit: digit.box.left + digit.box.right)


def _cut(found: InkImage, in_group: np.ndarray, left: int, right: int) -> DigitCrop:
    region = np.zeros_like(in_group)
    region[:, left:right] = in_group[:, left:right]
    return digit_from_region(found, region)


def looks_multi(grey: np.ndarray | InkImage, *, polarity: InkPolarity = "auto", work_side: int = WORK_SIDE) -> bool:
    """True when the ink is clearly a number rather than one digit: much wider than tall, or at
    least as wide as tall and made of several digit-high pieces side by side."""
    found = grey if isinstance(grey, InkImage) else find_ink(grey, polarity=polarity, work_side=work_side)
    line = _read_line(found)
    width = max(g.right for g in line.groups) - min(g.left for g in line.groups)
    height = max(g.bottom for g in line.groups) - min(g.top for g in line.groups)
    tall = [g for g in line.groups if g.height >= FRAGMENT_HEIGHT * line.height]
    side_by_side = len(tall) >= 2 and all(_overlap(a, b) <= 0 for a, b in zip(tall[:-1], tall[1:], strict=True))
    return width >= MULTI_ASPECT * height or (side_by_side and width >= height)


def extract_digits(grey: np.ndarray | InkImage, *, multi: bool | None = None, polarity: InkPolarity = "auto",
                   work_side: int = WORK_SIDE, scorer: Scorer | None = None) -> list[DigitCrop]:
    """One digit (``multi=False``), a number (``True``), or whichever ``looks_multi`` says (``None``)."""
    found = grey if isinstance(grey, InkImage) else find_ink(grey, polarity=polarity, work_side=work_side)
    if multi is None:
        multi = looks_multi(found)
    return segment(found, scorer=scorer) if multi else [to_mnist(found)]


def _read_line(found: InkImage) -> _Line:
    """Label the mask and group its components into digits (or touching runs of digits)."""
    labels, count = ndimage.label(found.mask, EIGHT_CONNECTED)
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    groups = [_Group([i + 1], s[0].start, s[0].stop, s[1].start, s[1].stop, int(areas[i + 1]))
              for i, s in enumerate(ndimage.find_objects(labels))]
    substantial = [g for g in groups if g.area >= 0.25 * max(g.area for g in groups)]
    height = float(np.median([g.height for g in substantial]))
    # A typical digit's ink; capped by its height, for a line that is one blob of touching digits.
    typical_area = min(float(np.median([g.area for g in substantial])), DIGIT_FILL * height**2)
    line = _Line(labels, [], height, typical_area)
    groups = [g for g in groups if g.area >= SPECK_SHARE * line.typical_area]
    groups = _merge_fragments(groups, line)
    line.groups = sorted((g for g in groups if g.area >= LONE_SHARE * line.typical_area
                          or g.height >= FRAGMENT_HEIGHT * line.height), key=lambda g: g.left + g.right)
    return line


def _merge_fragments(groups: list[_Group], line: _Line) -> list[_Group]:
    """Join each broken-off piece to the digit it belongs to.

    A small or short piece joins the digit it overlaps most horizontally (a detached stroke above
    or below a digit's body); a short piece that overlaps none joins the digit whose ink is nearest,
    if that is close (a 5's top stroke written off to the right). Joins must leave a digit-sized
    group, so two whole digits that overlap (a 7 over a 1) stay apart.
    """
    groups = sorted(groups, key=lambda g: g.area)
    merged: list[_Group] = []
    for index, piece in enumerate(groups):
        others = merged + groups[index + 1:]
        short = piece.height < FRAGMENT_HEIGHT * line.height
        best = None
        if short or piece.area < FRAGMENT_SHARE * line.typical_area:
            fits = [g for g in others if _union_fits(piece, g, line.height, 1.3)]
            overlaps = [(_overlap(piece, g), g) for g in fits]
            overlap, best = max(overlaps, key=lambda pair: pair[0], default=(0.0, None))
            if overlap < (SHORT_MERGE_OVERLAP if short else MERGE_OVERLAP):
                best = None
                if short:  # a detached bar may stick out far (a 5's top): judge by how close it is
                    near = [g for g in others if _union_fits(piece, g, line.height, 1.8)]
                    best = _nearest(piece, near, line.labels, NEAR_GAP * line.height)
        if best is None:
            merged.append(piece)
        else:
            best.join(piece)
    return merged


def _overlap(a: _Group, b: _Group) -> float:
    """Shared width of two groups' horizontal extents, as a share of the narrower."""
    return (min(a.right, b.right) - max(a.left, b.left)) / max(1, min(a.width, b.width))


def _union_fits(a: _Group, b: _Group, line_height: float, max_aspect: float) -> bool:
    """Whether two groups together still have the size of one digit."""
    width = max(a.right, b.right) - min(a.left, b.left)
    height = max(a.bottom, b.bottom) - min(a.top, b.top)
    return width <= max_aspect * line_height and height <= 1.4 * max(line_height, b.height)


def _nearest(piece: _Group, candidates: list[_Group], labels: np.ndarray, reach: float) -> _Group | None:
    """The candidate with ink closest to the piece's ink, if within ``reach`` pixels."""
    margin = int(np.ceil(reach)) + 1
    rows = slice(max(0, piece.top - margin), piece.bottom + margin)
    cols = slice(max(0, piece.left - margin), piece.right + margin)
    window = labels[rows, cols]
    distance = ndimage.distance_transform_edt(~np.isin(window, piece.labels))
    best, best_distance = None, reach
    for group in candidates:
        inside = np.isin(window, group.labels)
        if inside.any() and distance[inside].min() <= best_distance:
            best, best_distance = group, distance[inside].min()
    return best


def _split_options(group: _Group, in_group: np.ndarray, line: _Line) -> list[tuple[float, list[tuple[int, int]]]]:
    """Ways to read a group as digits, cheapest first: (cost, column ranges). The group whole, and
    its cheapest cut into several digits where one is plausible.

    Cuts are tried at the columns crossing locally fewest strokes. A way of cutting costs the strokes
    it cuts through plus how far each piece is from a digit's shape (dynamic programming over the
    candidate cuts). A wide 0 stays whole (cutting it crosses two strokes and leaves two thin halves);
    touching 0s split where they touch. Every piece must be tall and inky enough to be a digit, not
    the end of a neighbour's stroke.
    """
    height = max(group.height, 1)
    whole = (_shape_cost(group.width, height), [(group.left, group.right)])
    joined = len(group.labels) > 1  # pieces joined on purpose; touching digits are one component
    if joined or group.width <= SPLIT_ASPECT * height or group.height < FRAGMENT_HEIGHT * line.height:
        return [whole]
    inside = in_group[group.top: group.bottom, group.left: group.right]
    strokes = np.count_nonzero(inside[1:] & ~inside[:-1], axis=0) + inside[0]  # ink runs crossing each column
    filled = inside.any(axis=0)
    tops = np.where(filled, inside.argmax(axis=0), height)
    bottoms = np.where(filled, height - inside[::-1].argmax(axis=0), 0)
    ink_before = np.concatenate([[0], np.cumsum(inside.sum(axis=0))])

    def piece_cost(a: int, b: int) -> float:
        inky = ink_before[b] - ink_before[a] >= PIECE_SHARE * line.typical_area
        if not inky or bottoms[a:b].max() - tops[a:b].min() < FRAGMENT_HEIGHT * line.height:
            return np.inf
        # A digit holds together within its columns; the far ends of a neighbour's strokes (a 2's
        # arc and tail) can span the height too, but in separate bits.
        parts = ndimage.find_objects(ndimage.label(inside[:, a:b], EIGHT_CONNECTED)[0])
        tallest = max(rows.stop - rows.start for rows, _ in parts)
        if tallest < max(FRAGMENT_HEIGHT * line.height, PIECE_HEIGHT * height):
            return np.inf
        return _shape_cost(b - a, bottoms[a:b].max() - tops[a:b].min())

    edges = [0, *_cut_candidates(strokes), group.width]
    last = len(edges) - 1
    best = [0.0] + [np.inf] * last  # best[j]: cheapest way to cut columns 0..edges[j], ending in a cut
    previous = [0] * len(edges)
    for j in range(1, last):
        cut = CUT_COST + EXTRA_STROKE_COST * (strokes[edges[j]] - 1)
        for i in range(j):
            cost = best[i] + piece_cost(edges[i], edges[j]) + cut
            if cost < best[j]:
                best[j], previous[j] = cost, i
    # The last piece closes the cheapest chain with at least one cut.
    finals = [(best[i] + piece_cost(edges[i], edges[last]), i) for i in range(1, last)]
    split_cost, j = min(finals, default=(np.inf, 0))
    if not np.isfinite(split_cost):
        return [whole]
    ranges = [(group.left + edges[j], group.right)]
    while j > 0:
        ranges.append((group.left + edges[previous[j]], group.left + edges[j]))
        j = previous[j]
    return sorted([whole, (split_cost, ranges[::-1])], key=lambda option: option[0])


def _cut_candidates(strokes: np.ndarray) -> list[int]:
    """The middle column of every stretch of columns crossing fewer strokes than both neighbours."""
    change = np.flatnonzero(np.diff(strokes)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(strokes)]])
    levels = strokes[starts]
    candidates = []
    for k in range(1, len(starts) - 1):  # a stretch at either end is the group's own edge
        if levels[k] < levels[k - 1] and levels[k] < levels[k + 1]:
            candidates.append(int((starts[k] + ends[k]) // 2))
    return candidates


def _shape_cost(width: int, height: int) -> float:
    ratio = np.log(width / (DIGIT_ASPECT * height))
    return float((WIDE_COST if ratio > 0 else NARROW_COST) * ratio**2)
