"""Data augmentation on the training device: what real pens and paper do to a digit, batched.

Two augmenters, both ``(x, generator, digits=None) -> x`` on the normalised ``(N, 1, 28, 28)`` batch
(``digits``: the digit each image shows, -1 for none; only the class styles below use it):

- ``Affine``: a random rotation, scale and shift per image (the shipped ``recognizer`` recipe's; unchanged,
  so its runs stay bit-identical).
- ``PenAndPaper``: stroke width (thick and thin), slant (shear), aspect, rotation, scale, position, elastic
  distortion, broken strokes, blur and ink bleed, each with its own probability and strength; and class styles
  that MNIST's American writers rarely used but many others do: a 1 with a base bar or a flag, a 9 whose tail
  hooks to the left, drawn as extra pen strokes on MNIST's own training digits (no other writer's data).

``from_recipe(recipe.augment)`` picks the one the keys ask for. Every random number comes from the seeded CPU
generator the engine passes (a fixed count per batch, whatever the outcomes), so runs are reproducible and
resumable; the work itself runs on the batch's device in a few whole-batch ops (no per-image Python).

Units: the batch is normalised, ``x = (ink - mean) / std`` with ``std > 0``. Every operation here commutes with
such an increasing affine map of intensity (max-pool, weighted averages whose weights sum to one, setting a pixel
to the image's own background = its minimum, clamping at the image's own maximum), so they work in normalised
units without knowing the normalisation.

>>> import torch
>>> aug = from_recipe({"thick": 0.5, "slant": 0.3, "elastic": 1.5})
>>> aug(torch.zeros(8, 1, 28, 28), torch.Generator().manual_seed(0)).shape
torch.Size([8, 1, 28, 28])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

Augmenter = Callable[..., torch.Tensor]  # (x, generator, digits=None) -> x
AFFINE_KEYS = frozenset({"rotate", "scale", "shift"})
CLASS_STYLES = ("footed_one", "flagged_one", "hooked_nine")  # PenAndPaper's per-class strokes


@dataclass(frozen=True)
class Affine:
    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # relative, uniform in [1 - scale, 1 + scale]
    shift: float = 0.0  # pixels (of 28), uniform in [-shift, shift] on each axis

    @classmethod
    def from_recipe(cls, spec: dict | None) -> Augmenter | None:
        """The augmenter a recipe's ``augment`` dict asks for (see the module ``from_recipe``)."""
        return from_recipe(spec)

    def __call__(self, x: torch.Tensor, generator: torch.Generator, digits: torch.Tensor | None = None) -> torch.Tensor:
        n = x.shape[0]
        u = torch.rand(n, 4, generator=generator) * 2 - 1  # four uniforms in [-1, 1] per image
        angle = u[:, 0] * math.radians(self.rotate)
        scale = 1 + u[:, 1] * self.scale
        shift = u[:, 2:] * (2 * self.shift / x.shape[-1])  # grid coordinates span 2 over the image width
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        # "border" repeats the edge pixels, which are background in MNIST whatever the normalisation.
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass(frozen=True)
class PenAndPaper:
    """Pens and paper, per image. Probabilities are in [0, 1]; a zero strength or probability turns an effect off.

    Geometry (one ``grid_sample`` for all of it, applied to every image): ``rotate`` degrees, ``scale`` relative,
    ``aspect`` relative width change (height kept), ``slant`` the largest horizontal shear (dx/dy, italic), ``shift``
    pixels of 28; ``elastic`` pixels of smooth random displacement (a field drawn on a coarse 4x4 grid and upsampled
    bicubically), applied to a share ``elastic_p`` of images.
    Stroke width (before the warp, so it scales with it): ``thick`` / ``thin`` are the probabilities of a grey
    dilation / erosion (3x3 max-pool), blended with the original by a random amount in [0.3, 1] (partial pen widths).
    ``broken``: probability of one or two gaps where the pen skipped (each ``gap`` pixels wide and 6 long, at a
    random angle, across a random ink pixel). ``blur``: probability of a Gaussian blur (sigma 0.8 px) blended in
    by a random amount; ``bleed``: probability that ink spreads and saturates (blur, then a gain of 1.3-2.2,
    clamped at the image's darkest ink). Last, each image's contrast is stretched back to its original darkest ink.
    Class styles (first, so the warp and the pen act on them too; they need ``digits``): ``footed_one`` /
    ``flagged_one`` the probability that a 1 gets a base bar / a flag at its top, ``hooked_nine`` that a 9's tail
    curls back to the left at its foot. (A closed-top 4 drawn the same way, arm top to stem top, made many 4s
    look like 9s, MNIST's commonest confusion, so it is not offered.)
    """

    rotate: float = 0.0
    scale: float = 0.0
    aspect: float = 0.0
    slant: float = 0.0
    shift: float = 0.0
    elastic: float = 0.0
    elastic_p: float = 0.5
    thick: float = 0.0
    thin: float = 0.0
    broken: float = 0.0
    gap: float = 1.5
    blur: float = 0.0
    bleed: float = 0.0
    footed_one: float = 0.0
    flagged_one: float = 0.0
    hooked_nine: float = 0.0

    def __post_init__(self) -> None:
        for name in ("elastic_p", "thick", "thin", "broken", "blur", "bleed", *CLASS_STYLES):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment {name} {getattr(self, name)} is a probability (must be in [0, 1])")
        for name in ("rotate", "scale", "aspect", "slant", "shift", "elastic", "gap"):
            if getattr(self, name) < 0:
                raise ValueError(f"augment {name} {getattr(self, name)} must be >= 0")
        if self.thick + self.thin > 1:
            raise ValueError(f"augment thick + thin = {self.thick + self.thin} (must be <= 1: one pen per image)")

    def __call__(self, x: torch.Tensor, generator: torch.Generator, digits: torch.Tensor | None = None) -> torch.Tensor:
        n, size = x.shape[0], x.shape[-1]
        # A fixed number of draws per batch, whatever comes out: the stream stays aligned. The class styles draw
        # only when a recipe turns them on, so recipes without them keep the stream they were trained with.
        u = torch.rand(n, 16, generator=generator).to(x.device, x.dtype)
        field = (torch.rand(n, 2, 4, 4, generator=generator) * 2 - 1).to(x.device, x.dtype)
        cuts = torch.rand(n, 2, 2, generator=generator).to(x.device, x.dtype)
        styles_on = any(getattr(self, name) for name in CLASS_STYLES)
        g = torch.rand(n, 8, generator=generator).to(x.device, x.dtype) if styles_on else None
        background = x.amin(dim=(1, 2, 3), keepdim=True)
        ink = x.amax(dim=(1, 2, 3), keepdim=True)

        if g is not None and digits is not None:
            x = self._class_styles(x, digits.to(x.device), g, background, ink)
        x = self._stroke_width(x, u[:, 0], u[:, 1])
        x = self._warp(x, u[:, 2:8] * 2 - 1, field, u[:, 8])
        x = self._broken(x, u[:, 9], u[:, 10], cuts, background)
        x = self._blur_and_bleed(x, u[:, 13], u[:, 14], u[:, 15], background, ink)
        # A scanner or the reader's preprocessing stretches contrast: a thin or blurred stroke keeps the image's
        # darkest ink (a thin pen is thin, not faint).
        peak = x.amax(dim=(1, 2, 3), keepdim=True)
        gain = torch.where(peak - background > 1e-6, (ink - background) / (peak - background).clamp_min(1e-6), 1.0)
        return (background + (x - background) * gain).reshape(n, 1, size, size)

    def _class_styles(self, x: torch.Tensor, digits: torch.Tensor, g: torch.Tensor, background: torch.Tensor,
                      ink: torch.Tensor) -> torch.Tensor:
        """Pen strokes added to 1s and 9s, placed from each image's own ink (its top and bottom rows)."""
        n, size = x.shape[0], x.shape[-1]
        mask = (x > background + 0.5 * (ink - background))[:, 0]  # (n, H, W): the stroke's core
        index = torch.arange(size, device=x.device)
        rows = mask.any(2)
        top = torch.where(rows, index, size).amin(1)
        bottom = torch.where(rows, index, -1).amax(1)
        height = (bottom - top + 1).clamp_min(1).to(x.dtype)
        has_ink = rows.any(1)
        pos = index.to(x.dtype) + 0.5  # pixel centres

        def centre_in_row(row: torch.Tensor) -> torch.Tensor:
            line = mask[torch.arange(n, device=x.device), row.clamp(0, size - 1)].to(x.dtype)
            return (line * pos).sum(1) / line.sum(1).clamp_min(1)

        radius = 0.8 + 0.6 * g[:, 0]  # pen radius in pixels (MNIST strokes are about 2.6 px wide)
        strokes = []
        # A 1's base bar: centred under its foot, 0.35-0.7 of its height long, tilted a little.
        foot_x, foot_y = centre_in_row(bottom), bottom.to(x.dtype) + 0.5
        half = (0.18 + 0.17 * g[:, 1]) * height
        tilt = (g[:, 2] - 0.5) * 0.15 * half
        on = (digits == 1) & (g[:, 3] < self.footed_one)
        strokes.append((foot_x - half, foot_y + tilt, foot_x + half, foot_y - tilt, on))
        # A 1's flag: from its top, down and to the left, 0.2-0.35 of its height, 25-60 degrees below horizontal.
        head_x, head_y = centre_in_row(top), top.to(x.dtype) + 0.5
        length = (0.2 + 0.15 * g[:, 4]) * height
        angle = math.radians(25) + math.radians(35) * g[:, 5]
        on = (digits == 1) & (g[:, 6] < self.flagged_one)
        strokes.append((head_x, head_y, head_x - length * torch.cos(angle), head_y + length * torch.sin(angle), on))
        # A 9's hooked tail: from its foot, left and a little up, 0.2-0.3 of its height. (It reuses the flag's draws
        # 4 and 5: no image is both a 1 and a 9.)
        length = (0.2 + 0.1 * g[:, 4]) * height
        rise = (0.15 + 0.25 * g[:, 5]) * length
        on = (digits == 9) & (g[:, 7] < self.hooked_nine)
        strokes.append((foot_x, foot_y, foot_x - length, foot_y - rise, on))
        alpha = torch.zeros(n, size, size, device=x.device, dtype=x.dtype)
        for x0, y0, x1, y1, on in strokes:
            if bool((on & has_ink).any()):
                line = _segment_coverage(x0, y0, x1, y1, radius, pos)
                alpha = torch.maximum(alpha, line * (on & has_ink).to(x.dtype).view(-1, 1, 1))
        return torch.maximum(x, background + alpha.unsqueeze(1) * (ink - background))

    def _stroke_width(self, x: torch.Tensor, pick: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
        if self.thick == 0 and self.thin == 0:
            return x
        weight = (0.3 + 0.7 * amount).view(-1, 1, 1, 1)
        thick = (pick < self.thick).view(-1, 1, 1, 1)
        thin = ((pick >= self.thick) & (pick < self.thick + self.thin)).view(-1, 1, 1, 1)
        dilated = F.max_pool2d(x, 3, stride=1, padding=1)
        eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
        target = torch.where(thick, dilated, torch.where(thin, eroded, x))
        return x + weight * (target - x)

    def _warp(self, x: torch.Tensor, s: torch.Tensor, field: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
        if not any((self.rotate, self.scale, self.aspect, self.slant, self.shift, self.elastic)):
            return x
        size = x.shape[-1]
        angle = s[:, 0] * math.radians(self.rotate)
        scale = 1 + s[:, 1] * self.scale
        width = scale * (1 + s[:, 2] * self.aspect)  # output size relative to input, per axis
        height = scale
        shear = s[:, 3] * self.slant
        shift = s[:, 4:6] * (2 * self.shift / size)
        # Output -> input map: undo rotation, then shear (x_in += shear * y), then the scales.
        cos, sin = torch.cos(angle), torch.sin(angle)
        a11, a12 = cos / width, (-sin + shear * cos) / width
        a21, a22 = sin / height, (cos + shear * sin) / height
        theta = torch.stack([torch.stack([a11, a12, shift[:, 0]], 1), torch.stack([a21, a22, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        if self.elastic > 0:
            on = (pick < self.elastic_p).to(x.dtype).view(-1, 1, 1, 1)
            disp = F.interpolate(field, size=(size, size), mode="bicubic", align_corners=True)
            disp = disp * on * (2 * self.elastic / size)  # pixels -> grid units
            grid = grid + disp.permute(0, 2, 3, 1)
        # "border" repeats the edge pixels, which are background in MNIST whatever the normalisation.
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _broken(self, x: torch.Tensor, pick: torch.Tensor, second: torch.Tensor, cuts: torch.Tensor,
                background: torch.Tensor) -> torch.Tensor:
        if self.broken == 0:
            return x
        n, size = x.shape[0], x.shape[-1]
        coords = torch.arange(size, device=x.device, dtype=x.dtype) + 0.5
        yy, xx = coords.view(1, 1, -1, 1), coords.view(1, 1, 1, -1)
        # Each gap: a short band (gap px wide, 6 px long) at a random angle, centred on an ink pixel drawn with
        # probability proportional to its ink (inverse CDF, so it stays batched and on the generator's stream).
        weights = (x - background).clamp_min(0).reshape(n, -1) + 1e-6
        cdf = weights.cumsum(1)
        at = torch.searchsorted(cdf, (cuts[..., 1] * cdf[:, -1:]).contiguous()).clamp_max(size * size - 1)
        angle = (cuts[..., 0] * math.pi).view(n, 2, 1, 1)
        px = (at % size).to(x.dtype).view(n, 2, 1, 1) + 0.5
        py = (at // size).to(x.dtype).view(n, 2, 1, 1) + 0.5
        dx, dy = xx - px, yy - py
        across = (dx * torch.cos(angle) + dy * torch.sin(angle)).abs() < self.gap / 2
        along = (dy * torch.cos(angle) - dx * torch.sin(angle)).abs() < 3
        band = across & along
        cut = band[:, 0] | (band[:, 1] & (second < 0.5).view(n, 1, 1))  # a second gap on half of them
        cut = cut & (pick < self.broken).view(n, 1, 1)
        return torch.where(cut.view(n, 1, size, size), background.expand_as(x), x)

    def _blur_and_bleed(self, x: torch.Tensor, pick_blur: torch.Tensor, pick_bleed: torch.Tensor,
                        amount: torch.Tensor, background: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
        if self.blur == 0 and self.bleed == 0:
            return x
        blurred = _gaussian_blur(x, sigma=0.8)
        blur_on = (pick_blur < self.blur).to(x.dtype).view(-1, 1, 1, 1)
        out = x + blur_on * amount.view(-1, 1, 1, 1) * (blurred - x)
        if self.bleed > 0:
            gain = (1.3 + 0.9 * amount).view(-1, 1, 1, 1)
            bled = torch.minimum(background + gain * (blurred - background), ink)
            out = torch.where((pick_bleed < self.bleed).view(-1, 1, 1, 1), bled, out)
        return out


def _segment_coverage(x0: torch.Tensor, y0: torch.Tensor, x1: torch.Tensor, y1: torch.Tensor, radius: torch.Tensor,
                      pos: torch.Tensor) -> torch.Tensor:
    """(n, H, W) ink coverage of one round-capped pen stroke per image, from (x0, y0) to (x1, y1), pixel units,
    anti-aliased over one pixel."""
    px, py = pos.view(1, 1, -1), pos.view(1, -1, 1)
    x0, y0, x1, y1, radius = (v.view(-1, 1, 1) for v in (x0, y0, x1, y1, radius))
    dx, dy = x1 - x0, y1 - y0
    t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
    distance = torch.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
    return (radius + 0.5 - distance).clamp(0, 1)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable 5-tap Gaussian blur (weights sum to one; the edge is replicated, i.e. background)."""
    t = torch.arange(-2, 3, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5))
    return F.conv2d(x, k.view(1, 1, 5, 1))


AUGMENT_KEYS = tuple(f.name for f in fields(PenAndPaper))


def from_recipe(spec: dict | None) -> Augmenter | None:
    """The augmenter for a recipe's ``augment`` dict: ``None`` for none, ``Affine`` when only rotate/scale/shift
    are given (the shipped recipe's, bit-identical to before), else ``PenAndPaper``.

    >>> type(from_recipe({"rotate": 10.0})).__name__, type(from_recipe({"thick": 0.3})).__name__
    ('Affine', 'PenAndPaper')
    """
    if not spec:
        return None
    if set(spec) <= AFFINE_KEYS:
        return Affine(**spec)
    return PenAndPaper(**spec)
