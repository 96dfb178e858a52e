"""The pen-and-paper augmentation: shapes, determinism, each effect doing what it says, identity when off."""

from __future__ import annotations

import pytest
import torch

from digitlab.errors import DigitlabError
from digitlab.training import recipes
from digitlab.training.augment import AUGMENT_KEYS, Affine, PenAndPaper, from_recipe

MEAN, STD = 0.1307, 0.3081


def digits(n: int = 32) -> torch.Tensor:
    """A normalised batch of simple drawn strokes: a vertical bar and a ring, alternating, 2-3 px wide."""
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    bar = ((xx - 14).abs() < 1.5) & ((yy - 14).abs() < 9)
    ring = ((((xx - 14) ** 2 + (yy - 14) ** 2).sqrt() - 7).abs() < 1.2)
    ink = torch.stack([bar if i % 2 == 0 else ring for i in range(n)]).float().unsqueeze(1)
    return (ink - MEAN) / STD


def ink_of(x: torch.Tensor) -> torch.Tensor:
    """Per-image ink mass in pixel units (un-normalised)."""
    return (x * STD + MEAN).clamp(0, 1).sum(dim=(1, 2, 3))


def run(spec: dict, x: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    x = digits() if x is None else x
    return from_recipe(spec)(x, torch.Generator().manual_seed(seed))


def centroid_x_slope(x: torch.Tensor) -> torch.Tensor:
    """Per image: how far the ink's horizontal centre moves per row (a slant's dx/dy)."""
    w = (x * STD + MEAN).clamp(0, 1)[:, 0]
    rows = torch.arange(28.0)
    mass = w.sum(2).clamp_min(1e-6)
    cx = (w * rows).sum(2) / mass  # per row
    has = w.sum(2) > 0.5
    out = []
    for i in range(len(x)):
        r, c = rows[has[i]], cx[i][has[i]]
        r = r - r.mean()
        out.append((r * (c - c.mean())).sum() / (r * r).sum())
    return torch.stack(out)


def test_dispatch_and_keys_agree_with_recipes():
    assert from_recipe(None) is None and from_recipe({}) is None
    assert isinstance(from_recipe({"rotate": 12.0, "scale": 0.1, "shift": 2.0}), Affine)
    assert isinstance(Affine.from_recipe({"thick": 0.5}), PenAndPaper)
    assert set(recipes.AUGMENT_KEYS) == set(AUGMENT_KEYS)


def test_old_affine_recipe_stream_unchanged():
    """The shipped `recognizer` recipe still gets exactly the Affine warp it was trained with."""
    x = digits(8)
    spec = recipes.RECIPES["recognizer"].augment
    got = from_recipe(spec)(x, torch.Generator().manual_seed(3))
    want = Affine(**spec)(x, torch.Generator().manual_seed(3))
    assert torch.equal(got, want)


def test_shape_dtype_and_determinism():
    spec = recipes.RECIPES["recognizer-v2"].augment
    a, b = run(spec, seed=5), run(spec, seed=5)
    assert a.shape == (32, 1, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, run(spec, seed=6))


def test_resumable_stream_fixed_draws_per_batch():
    """The generator advances by the same amount whatever is switched on, so a resumed run lines up."""
    counts = []
    for spec in ({"thick": 1.0}, {"broken": 0.0001, "elastic": 2.0}):
        g = torch.Generator().manual_seed(0)
        from_recipe(spec)(digits(16), g)
        counts.append(torch.rand(1, generator=g).item())
    assert counts[0] == counts[1]


def test_identity_when_disabled():
    x = digits()
    off = {"thick": 0.0, "thin": 0.0, "broken": 0.0, "blur": 0.0, "bleed": 0.0, "elastic": 0.0, "slant": 0.0}
    assert torch.allclose(run(off, x), x, atol=1e-6)


def test_thick_grows_ink_and_thin_shrinks_it():
    x = digits()
    before = ink_of(x)
    assert (ink_of(run({"thick": 1.0}, x)) > before * 1.2).all()
    assert (ink_of(run({"thin": 1.0}, x)) < before * 0.9).all()


def test_slant_shears_vertical_strokes():
    x = digits()
    bars = slice(0, None, 2)
    slopes = centroid_x_slope(run({"slant": 0.4}, x))[bars].abs()
    assert slopes.max() > 0.2 and (slopes < 0.45).all()
    assert centroid_x_slope(x)[bars].abs().max() < 1e-4


def test_aspect_changes_width_not_height():
    x = digits()
    y = run({"aspect": 0.3}, x)
    ink = (y * STD + MEAN)[:, 0] > 0.3
    heights = ink.any(2).sum(1).float()
    widths = ink.any(1).sum(1).float()
    ring = slice(1, None, 2)
    assert widths[ring].std() > 1.0  # rings got wider or narrower
    assert (heights[ring] - heights[ring].mean()).abs().max() <= 1.0


def test_shift_moves_the_ink():
    x = digits()
    y = run({"shift": 3.0}, x)
    w = (y * STD + MEAN).clamp(0, 1)[:, 0]
    cx = (w.sum(1) * torch.arange(28.0)).sum(1) / w.sum((1, 2))
    assert (cx - 14).abs().max() > 1.5 and (cx - 14).abs().max() <= 3.6


def test_elastic_displaces_locally_and_only_its_share():
    x = digits(64)
    y = run({"elastic": 2.0, "elastic_p": 0.5}, x)
    changed = ((y - x).abs().amax(dim=(1, 2, 3)) > 0.1)
    assert 15 < changed.sum() < 49  # about half the images
    ratio = ink_of(y) / ink_of(x)
    assert ratio.min() > 0.6 and ratio.max() < 1.8  # a displacement, not an eraser
    flat = lambda t: (t * STD + MEAN).clamp(0, 1).flatten(1)  # noqa: E731
    corr = torch.nn.functional.cosine_similarity(flat(y), flat(x))
    assert corr[changed].median() > 0.5  # still the same stroke, moved a little


def test_broken_strokes_cut_gaps():
    x = digits(64)
    y = run({"broken": 1.0, "gap": 2.0}, x)
    background = x.amin()
    erased = ((x > background + 1) & (y <= background + 1e-6)).sum(dim=(1, 2, 3))
    assert (erased > 0).float().mean() > 0.9
    assert (ink_of(y) > 0.5 * ink_of(x)).all()  # a gap, not a missing digit
    assert (y >= background - 1e-6).all()


def test_blur_spreads_and_bleed_spreads_more():
    x = digits()
    spread = lambda t: ((t * STD + MEAN) > 0.05).sum(dim=(1, 2, 3)).float()  # noqa: E731
    blurred, bled = run({"blur": 1.0}, x), run({"bleed": 1.0}, x)
    assert (spread(blurred) >= spread(x)).all() and spread(blurred).mean() > spread(x).mean() * 1.2
    assert (ink_of(bled) > ink_of(x) * 1.2).all()  # saturating bleed: more ink, not just softer edges


def test_contrast_kept_in_normalised_units():
    """The darkest ink and the paper stay where they were (thin pens are thin, not faint)."""
    x = digits()
    y = run(recipes.RECIPES["recognizer-v2"].augment, x)
    assert torch.allclose(y.amax(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)), atol=1e-5)
    assert torch.allclose(y.amin(dim=(1, 2, 3)), x.amin(dim=(1, 2, 3)), atol=1e-5)


def test_bad_values_are_recipe_errors():
    base = recipes.RECIPES["recognizer-v2"]
    with pytest.raises(DigitlabError, match="probability"):
        base.override(augment={"thick": 1.5})
    with pytest.raises(DigitlabError, match="augment keys"):
        base.override(augment={"wobble": 1.0})
    with pytest.raises(ValueError):
        PenAndPaper(thick=0.7, thin=0.6)


@pytest.mark.parametrize("name", ["recognizer-v2", "recognizer-v3"])
def test_v2_recipe_is_mnist_train_only_and_small(name):
    r = recipes.RECIPES[name]
    assert r.dataset == "mnist" and r.val_size == 5000 and r.ema is not None
    from digitlab.models.digitnet import DigitNet

    params = sum(p.numel() for p in DigitNet(**r.model_args).parameters())
    assert params * 4 <= 1_000_000


def ones_and_zeros(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """digits(): bars (labelled 1) at even indices, rings (labelled 0) at odd ones."""
    return digits(n), torch.tensor([1 if i % 2 == 0 else 0 for i in range(n)])


def ink_mask(x: torch.Tensor) -> torch.Tensor:
    return (x * STD + MEAN)[:, 0] > 0.5


def test_footed_ones_get_a_base_bar_and_nothing_else_changes():
    x, labels = ones_and_zeros()
    out = PenAndPaper(footed_one=1.0)(x, torch.Generator().manual_seed(0), digits=labels)
    bars, rings = slice(0, None, 2), slice(1, None, 2)
    assert torch.equal(out[rings], x[rings])  # only 1s get the style
    foot = ink_mask(out[bars])[:, 21:24]  # the bar's bottom rows (it spans rows 5-22)
    assert (foot.sum(-1).amax(-1) >= 7).all()  # a bar across the foot, not the 3-px stroke
    assert torch.equal(ink_mask(out[bars])[:, :18], ink_mask(x[bars])[:, :18])  # the rest of the 1 untouched
    assert torch.equal(PenAndPaper(footed_one=1.0)(x, torch.Generator().manual_seed(0)), x)  # no labels: no styles


def test_flagged_ones_get_a_stroke_down_and_left_from_their_top():
    x, labels = ones_and_zeros()
    out = PenAndPaper(flagged_one=1.0)(x, torch.Generator().manual_seed(0), digits=labels)
    added = ink_mask(out[::2]) & ~ink_mask(x[::2])
    rows, cols = torch.arange(28).view(1, -1, 1), torch.arange(28).view(1, 1, -1)
    assert ((added & (cols < 13)).sum((1, 2)) >= 3).all()  # left of the stroke (columns 13-15)
    assert not (added & (cols > 15)).any()  # nothing to the right
    assert not (added & (rows > 13)).any()  # nothing in the bottom half


def test_class_styles_draw_only_when_on_so_older_recipes_keep_their_stream():
    def next_draw(spec: dict) -> float:
        g = torch.Generator().manual_seed(0)
        x, labels = ones_and_zeros()
        from_recipe(spec)(x, g, digits=labels)
        return torch.rand(1, generator=g).item()

    v2 = recipes.RECIPES["recognizer-v2"].augment
    assert next_draw(v2) == next_draw({"thick": 1.0})
    assert next_draw({**v2, "footed_one": 0.3}) != next_draw(v2)


def test_hooked_nines_get_a_tail_to_the_left_at_their_foot():
    x = digits(8)
    labels = torch.tensor([9 if i % 2 == 0 else 1 for i in range(8)])
    out = PenAndPaper(hooked_nine=1.0)(x, torch.Generator().manual_seed(0), digits=labels)
    assert torch.equal(out[1::2], x[1::2])  # the 1s are left alone
    added = ink_mask(out[::2]) & ~ink_mask(x[::2])
    rows, cols = torch.arange(28).view(1, -1, 1), torch.arange(28).view(1, 1, -1)
    assert ((added & (cols < 13)).sum((1, 2)) >= 3).all()  # left of the stroke
    assert not (added & (cols > 15)).any() and not (added & (rows < 14)).any()  # nothing right or high up
