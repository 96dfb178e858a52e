"""Split a written number into its digits, left to right.

Connected components of the ink mask are the starting guess, then corrected for the two ways
handwriting breaks it: one digit in several pieces (a 5 whose top stroke is detached) and several
digits in one piece (touching neighbours). Sizes are judged against the line's own digits, so a
line of small or large, tight or loose digits is handled alike.

A piece that may hold several digits is read by recognition-based segmentation: candidate cuts
are top-to-bottom paths through the fewest strokes (they bend round a neighbour that leans over),
and of all the ways to read the piece (whole, or cut at some of them) the cheapest wins, counting
the cuts, how far each part is from a digit's shape and, given a scorer (the model), its doubt
about each part. A cut that divides a loop (a 0's thin side, a 6's or 9's bowl) costs more, but is
allowed: touching digits enclose paper between them too, and the scorer (with the piece verifier, a half 0
is no digit) tells the two apart. A cut whose parts sit one above the other rather than side by side (an
italic 8 cut at its waist into a 6 and a 9, a long 1 cut in two) is never made, whatever the scorer says.
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
DIGIT_ASPECT = 0.75  # width / height of a typical digit (MNIST's median is 0.8; photos read best with 0.75)
DIGIT_FILL = 0.3  # ink area / height^2 of a typical digit in the mask (MNIST photos: median 0.29, a 1: 0.15)
SPLIT_ASPECT = 0.4  # only a piece wider than this times its height may hold several digits (the scorer judges;
# 0.6 kept touching narrow digits, a 1 and a 7, whole: with the piece verifier 0.4 read 0.2-0.5 pt more numbers)
PIECE_SHARE = 0.25  # a piece cut off a wide group needs this share of a typical digit's ink ...
PIECE_HEIGHT = 0.5  # ... and a connected part this share of the group's height ...
PIECE_ASPECT = 2.0  # ... and be at most this times wider than tall (MNIST: 99.9% of digits are below 1.7)
CUT_COST = 0.5  # cost of a cut through one stroke (where two digits touch), with a scorer to judge the pieces ...
UNSCORED_CUT_COST = 2.5  # ... and without one: then only shapes speak for a split
EXTRA_STROKE_COST = 1.6  # ... plus this for every further stroke it cuts (through a 0 or an 8)
SLICE_COST = 3.5  # ... plus this per line height it runs inside ink beyond crossing (slicing a stroke lengthwise)
WIDE_COST = 12.0  # cost of a digit k times wider than typical: WIDE_COST * log(k)^2 ...
NARROW_COST = 0.5  # ... and of one k times narrower (a 1 is narrow; a run of touching digits is wide)
CUT_BEND = 2.0  # a cut's cost (in strokes cut) of a sideways shift by the line height: it bends round a stroke ...
CUT_ALONG = 1.0  # ... and of running inside ink for the line height (along strokes merged where digits touch)
CUT_SPACING = 0.2  # candidate cuts through the middle row are at least this share of the line height apart
LOOP_CUT_COST = 1.0  # a cut that divides a loop costs this more: a 0's thin side, or paper enclosed between
# touching digits, which is no loop of either (forbidding such cuts left 35 of 77 under-split development numbers
# whole; the scorer and the piece verifier tell a half 0 from a digit)
RECOGNITION_WEIGHT = 6.0  # cost of one nat of the scorer's doubt (-log confidence) per digit
MULTI_ASPECT = 1.6  # ink this much wider than tall is a number, whatever its pieces
FAINT_SHARE = 0.5  # ink this share of the mask's threshold, next to a group's ink, may close one of its loops
LOOP_GAP = 0.08  # ... as do gaps up to this share of the line height (a 0 not quite closed at the top)
HOLE_SHARE = 0.04  # a hole (paper enclosed by one group's ink) this share of a typical digit's ink is a loop ...
# ... and a cut that divides one costs LOOP_CUT_COST more: it may go through a digit's own thin join (a 0's thin side)
SIDE_BY_SIDE = 1.0  # neighbouring pieces' ink centres are at least this times further apart across than up or
# down: digits of a number sit side by side, the halves of a digit cut at its waist (an italic 8) sit one on the other

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
    stroke: float = 1.0  # the pen's stroke width in mask pixels: twice the ink area over its outline


def segment(grey: np.ndarray | InkImage, *, polarity: InkPolarity = "auto", work_side: int = WORK_SIDE,
            scorer: Scorer | None = None) -> list[DigitCrop]:
    """The digits of a one-line number, left to right, each as (box, 28x28 MNIST image).

    Geometry alone cannot always tell a wide digit from two touching ones (a broad 2 or 5 against
    a 98 written close). ``scorer`` resolves those cases by recognition: given a batch of 28x28
    uint8 digits it returns each one's confidence (the winning class probability). Every way of
    reading a group that may hold several digits then also costs the scorer's doubt about its
    digits, and the cheapest reading wins.
    """
    found = grey if isinstance(grey, InkImage) else find_ink(grey, polarity=polarity, work_side=work_side)
    line = _read_line(found)
    cut_cost = UNSCORED_CUT_COST if scorer is None else CUT_COST
    candidates = [_SplitCandidates(found, line, group, cut_cost) for group in line.groups]
    if scorer is not None:
        ambiguous = [group for group in candidates if len(group.costs) > 1]
        # Each group read as a whole first: what it costs bounds what a split may cost, so
        # pieces that cannot beat it are never cropped nor scored.
        _add_doubt(scorer, [(group, group.whole) for group in ambiguous])
        _add_doubt(scorer, [(group, key) for group in ambiguous for key in group.promising()])
    digits = [digit for group in candidates for digit in group.digits()]
    return sorted(digits, key=lambda digit: digit.box.left + digit.box.right)


class _SplitCandidates:
    """The ways to read one group: whole, or cut into pieces along some of its candidate cuts.

    Edges are the group's left side (0), its cuts left to right, and its right side (``last``);
    a piece lies between two edges. A reading costs how far each piece is from a digit's shape,
    the cuts it makes and, once scored, the scorer's doubt about each piece; the cheapest reading
    is found by dynamic programming over the edges. Cuts that divide a loop cost ``LOOP_CUT_COST`` more, and
    neighbouring pieces must sit side by side (``SIDE_BY_SIDE``).
    """

    def __init__(self, found: InkImage, line: _Line, group: _Group, cut_cost: float) -> None:
        self.found, self.group, self.cut_cost = found, group, cut_cost
        inside = np.isin(line.labels[group.top: group.bottom, group.left: group.right], group.labels)
        self.cuts = _cuts(inside, line) if _may_split(group, line) else []
        if self.cuts:
            ink = found.ink[group.top: group.bottom, group.left: group.right]
            loops = _loops(inside, ink > FAINT_SHARE * found.threshold, line)
            for cut in self.cuts:
                cut.divides = _divides(cut, loops)
        height, width = inside.shape
        edges = [np.zeros(height, dtype=int), *(cut.columns for cut in self.cuts), np.full(height, width)]
        self.last = len(edges) - 1
        self.whole = (0, self.last)
        self.regions = {self.whole: inside}
        self.costs = {self.whole: _shape_cost(width, height)}
        self.crops: dict[tuple[int, int], DigitCrop] = {}
        columns = np.arange(width)
        for i in range(self.last):
            for j in range(i + 1, self.last + 1):
                if (i, j) == self.whole or np.any(edges[i] > edges[j]):  # crossing cuts bound no piece
                    continue
                region = inside & (columns >= edges[i][:, None]) & (columns < edges[j][:, None])
                cost = _piece_cost(region, group, line)
                if np.isfinite(cost):
                    self.regions[i, j], self.costs[i, j] = region, cost
        self.centres = {key: _centre(region) for key, region in self.regions.items()}

    def crop(self, key: tuple[int, int]) -> DigitCrop:
        """The piece as a digit image (made once: scored pieces are often the ones kept)."""
        if key not in self.crops:
            full = np.zeros(self.found.mask.shape, dtype=bool)
            full[self.group.top: self.group.bottom, self.group.left: self.group.right] = self.regions[key]
            self.crops[key] = digit_from_region(self.found, full)
        return self.crops[key]

    def _step(self, key: tuple[int, int]) -> float:
        """A piece's cost, with the cut that ends it."""
        end = key[1]
        if end == self.last:
            return self.costs[key]
        cut = self.cuts[end - 1]
        return (self.costs[key] + self.cut_cost + EXTRA_STROKE_COST * (cut.strokes - 1) + SLICE_COST * cut.along
                + (LOOP_CUT_COST if cut.divides else 0.0))

    def _ahead(self) -> tuple[list[float], list[int]]:
        """ahead[e]: the cost of the cheapest reading from the left side to edge e; link[e]: the
        edge before e on it."""
        ahead, link = [0.0] + [np.inf] * self.last, [0] * (self.last + 1)
        for i, j in sorted(self.costs, key=lambda key: key[1]):  # a piece's left edge is settled before it
            if ahead[i] + self._step((i, j)) < ahead[j]:
                ahead[j], link[j] = ahead[i] + self._step((i, j)), i
        return ahead, link

    def _behind(self) -> list[float]:
        """behind[e]: the cost of the cheapest reading from edge e to the right side."""
        behind = [np.inf] * self.last + [0.0]
        for i, j in sorted(self.costs, key=lambda key: -key[0]):
            behind[i] = min(behind[i], self._step((i, j)) + behind[j])
        return behind

    def promising(self) -> list[tuple[int, int]]:
        """Pieces (other than the whole) in a reading that might beat the scored whole: the scorer's
        doubt only adds cost, so a reading whose shapes and cuts alone cost more never will."""
        ahead, behind, bound = self._ahead()[0], self._behind(), self.costs[self.whole]
        return [key for key in self.costs if key != self.whole
                and ahead[key[0]] + self._step(key) + behind[key[1]] < bound]

    def side_by_side(self, left: tuple[int, int], right: tuple[int, int]) -> bool:
        """Whether two neighbouring pieces sit side by side rather than one above the other."""
        (lx, ly), (rx, ry) = self.centres[left], self.centres[right]
        return rx - lx >= SIDE_BY_SIDE * abs(ry - ly)

    def digits(self) -> list[DigitCrop]:
        """The digits of the cheapest reading whose neighbouring pieces sit side by side, left to right.

        Dynamic programming over (piece, the piece before it): best[key] is the cheapest reading
        from the left side that ends with the piece ``key``."""
        best: dict[tuple[int, int], float] = {}
        link: dict[tuple[int, int], tuple[int, int] | None] = {}
        for key in sorted(self.costs, key=lambda key: key[1]):  # every piece before it is settled
            i = key[0]
            if i == 0:
                best[key], link[key] = self._step(key), None
                continue
            before = [(best[prev], prev) for prev in best if prev[1] == i and self.side_by_side(prev, key)]
            if before:
                cost, prev = min(before)
                best[key], link[key] = cost + self._step(key), prev
        ends = [(cost, key) for key, cost in best.items() if key[1] == self.last]
        key: tuple[int, int] | None = min(ends)[1] if ends else self.whole
        keys = []
        while key is not None:
            keys.append(key)
            key = link.get(key)
        return [self.crop(key) for key in keys[::-1]]


def candidate_pieces(found: InkImage, cut_cost: float = CUT_COST) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """The pieces segmentation weighs in ``found``: each group whole and each piece its cuts allow, except those
    bounded by a cut through a loop, as ((left, top, right, bottom) at analysis resolution, 28x28 crop). The data
    the piece verifier learns from (``digitlab.data.pieces``); with the loop-cut pieces too it read development
    numbers 0.3-0.6 points worse (docs/benchmarks.md)."""
    line = _read_line(found)
    pieces = []
    for group in line.groups:
        candidates = _SplitCandidates(found, line, group, cut_cost)
        through_loop = {edge + 1 for edge, cut in enumerate(candidates.cuts) if cut.divides}
        for key, region in candidates.regions.items():
            if through_loop.intersection(key):
                continue
            rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
            box = (group.left + int(cols[0]), group.top + int(rows[0]),
                   group.left + int(cols[-1]) + 1, group.top + int(rows[-1]) + 1)
            pieces.append((box, candidates.crop(key).image))
    return pieces


def _add_doubt(scorer: Scorer, pieces: list[tuple[_SplitCandidates, tuple[int, int]]]) -> None:
    """Score pieces in one batch and add the scorer's doubt to their cost; a piece the scorer has
    not seen keeps only its shape cost, which is fine: it was found not to matter."""
    if not pieces:
        return
    confidence = np.asarray(scorer(np.stack([group.crop(key).image for group, key in pieces])), np.float64)
    for (group, key), value in zip(pieces, confidence, strict=True):
        group.costs[key] += RECOGNITION_WEIGHT * float(-np.log(np.clip(value, 1e-6, 1.0)))


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
    outline = np.count_nonzero(found.mask & ~ndimage.binary_erosion(found.mask))
    stroke = 2.0 * np.count_nonzero(found.mask) / max(1, outline)
    line = _Line(labels, [], height, typical_area, stroke)
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


def _may_split(group: _Group, line: _Line) -> bool:
    """Whether a group may hold several digits: one component (pieces joined on purpose are one
    digit), not narrow (two touching digits, a 1 among them, can be as narrow as one 0), and as
    tall as a digit."""
    return (len(group.labels) == 1 and group.width > SPLIT_ASPECT * group.height
            and group.height >= FRAGMENT_HEIGHT * line.height)


@dataclass
class _Cut:
    """A top-to-bottom path between two touching digits, in a group's box."""

    columns: np.ndarray  # (height,) the path's column in each row: ink at or right of it is the right digit's
    strokes: int  # strokes of ink it cuts through (at least one: the group is connected)
    along: float = 0.0  # rows it runs inside ink beyond crossing its strokes, in line heights: long when it
    # slices a stroke lengthwise
    divides: bool = False  # it leaves part of a loop on either side


def _cuts(inside: np.ndarray, line: _Line) -> list[_Cut]:
    """Candidate cuts: paths from top to bottom through as few strokes as possible.

    A path may bend one column per row, at a cost, so it can follow the gap between digits that
    overlap in their columns (a 7 leaning over a 1) rather than cut straight through one of them.
    One path passes through each column of the middle row; those no dearer than the paths through
    the columns either side are the candidates, cheapest first, keeping apart.
    """
    height, width = inside.shape
    (down, up), (down_moves, up_moves) = _path_costs(np.stack([inside, inside[::-1]]), line.height)
    middle = height // 2
    # The cheapest path through each column of the middle row: down to it plus up to it from the
    # bottom, a stroke through the middle row counted once.
    through = down[middle] + up[height - 1 - middle] - inside[middle]
    spacing = max(1, round(CUT_SPACING * line.height))
    lowest = [x for x in range(1, width - 1) if through[x] <= min(through[x - 1], through[x + 1])]
    chosen: list[int] = []
    for x in sorted(lowest, key=lambda x: through[x]):
        if all(abs(x - c) >= spacing for c in chosen):
            chosen.append(x)
    cuts = []
    for x in sorted(chosen):
        upper = _trace(down, down_moves, middle, x)[::-1]  # rows 0 .. middle
        lower = _trace(up, up_moves, height - 1 - middle, x)  # rows middle .. height - 1
        columns = np.array(upper + lower[1:])
        on = inside[np.arange(height), columns]
        strokes = int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1]))
        inked = np.count_nonzero(on) - max(1, strokes) * line.stroke  # beyond crossing each stroke
        cuts.append(_Cut(columns, max(1, strokes), max(0.0, inked) / line.height))
    return cuts


def _path_costs(inside: np.ndarray, line_height: float) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of each (height, width) mask in ``inside``, the cost of the cheapest path down
    to it from the top row, moving at most one column per row; and what each move costs, (count, 3,
    height, width): into a pixel from the column to the left above, straight above, to the right above.

    A path costs one for every stroke it enters, ``CUT_BEND`` for a sideways shift by the line
    height and ``CUT_ALONG`` for running inside ink for the line height: where two digits' strokes
    merge for a stretch, cutting along the merged stroke is one cut, as it is for a single crossing.
    """
    count, height, width = inside.shape
    bend, along = CUT_BEND / line_height, CUT_ALONG / line_height
    above = np.zeros((count, height, width + 2), dtype=bool)  # ink in the row above, walls either side
    above[:, 1:, 1:-1] = inside[:, :-1]
    moves = np.stack([bend + (inside & ~above[:, :, :-2]), inside & ~above[:, :, 1:-1],
                      bend + (inside & ~above[:, :, 2:])], axis=1) + along * inside[:, None]
    cost = np.full((count, height, width + 2), np.inf)  # a wall column on either side
    cost[:, 0, 1:-1] = inside[:, 0] * (1.0 + along)
    for row in range(1, height):
        last = cost[:, row - 1]
        cost[:, row, 1:-1] = np.minimum(np.minimum(last[:, 1:-1] + moves[:, 1, row], last[:, :-2] + moves[:, 0, row]),
                                        last[:, 2:] + moves[:, 2, row])
    return cost[:, :, 1:-1], moves


def _trace(cost: np.ndarray, moves: np.ndarray, row: int, x: int) -> list[int]:
    """The columns of the cheapest path to (row, x), from that row back up to the top one."""
    columns = [x]
    for r in range(row, 0, -1):
        steps = [d for d in (0, -1, 1) if 0 <= x + d < cost.shape[1]]  # straight first: it wins ties
        x += min(steps, key=lambda d: cost[r - 1, x + d] + moves[d + 1, r, x])
        columns.append(x)
    return columns


def _piece_cost(region: np.ndarray, group: _Group, line: _Line) -> float:
    """How far a piece cut from a group is from a digit's shape; infinite if it cannot be a digit.

    It must be tall and inky enough, not too wide, and hold together: the far ends of a neighbour's
    strokes (a 2's arc and tail) can span the height too, but in separate bits.
    """
    if np.count_nonzero(region) < PIECE_SHARE * line.typical_area:
        return np.inf
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    height, width = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    if height < FRAGMENT_HEIGHT * line.height or width > PIECE_ASPECT * height:
        return np.inf
    parts = ndimage.find_objects(ndimage.label(region, EIGHT_CONNECTED)[0])
    tallest = max(part_rows.stop - part_rows.start for part_rows, _ in parts)
    if tallest < max(FRAGMENT_HEIGHT * line.height, PIECE_HEIGHT * group.height):
        return np.inf
    return _shape_cost(width, height)


def _shape_cost(width: int, height: int) -> float:
    ratio = np.log(width / (DIGIT_ASPECT * height))
    return float((WIDE_COST if ratio > 0 else NARROW_COST) * ratio**2)


def _loops(inside: np.ndarray, faint: np.ndarray, line: _Line) -> np.ndarray:
    """Labels of the group's loops, 0 elsewhere: paper enclosed by its ink, big enough to be a digit's loop (not
    a speck between touching strokes). A thin join may be missing from the ink mask (a 0 with a thin side): faint
    ink right next to the group's ink (``faint``: above a share of the threshold) and small gaps (``LOOP_GAP``)
    close it."""
    near = ndimage.binary_dilation(inside, iterations=2)
    reach = max(1, round(LOOP_GAP * line.height))
    disk = np.hypot(*np.mgrid[-reach: reach + 1, -reach: reach + 1]) <= reach
    closed = np.pad(inside | (faint & near), reach)
    closed = ndimage.binary_closing(closed, disk)[reach: -reach, reach: -reach] | inside
    holes, count = ndimage.label(ndimage.binary_fill_holes(closed) & ~closed)
    if count == 0:
        return holes
    areas = np.bincount(holes.ravel(), minlength=count + 1)
    small = np.flatnonzero(areas < HOLE_SHARE * line.typical_area)
    holes[np.isin(holes, small)] = 0
    return holes


def _divides(cut: _Cut, loops: np.ndarray) -> bool:
    """Whether a cut leaves part of some loop on its left and part on its right."""
    if not loops.any():
        return False
    right = np.arange(loops.shape[1])[None, :] >= cut.columns[:, None]
    left_of = np.unique(loops[~right & (loops > 0)])
    right_of = np.unique(loops[right & (loops > 0)])
    return bool(np.intersect1d(left_of, right_of).size)


def _centre(region: np.ndarray) -> tuple[float, float]:
    """The ink's centre (column, row)."""
    rows, cols = np.nonzero(region)
    return float(cols.mean()), float(rows.mean())
