"""Input normalisation presets: (mean, std) applied to pixels scaled to [0, 1]."""

from __future__ import annotations

from digitlab.errors import DataError

NORMALIZATIONS: dict[str, tuple[float, float]] = {
    "none": (0.0, 1.0),  # pixels in [0, 1] (seed 001)
    "mnist": (0.1307, 0.3081),  # the dataset's own mean and std (seed 002, pytorch/examples)
    "symmetric": (0.5, 0.5),  # [-1, 1] (seed 000)
}


def normalization(name: str) -> tuple[float, float]:
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise DataError(f"unknown normalisation {name!r}; choose from {', '.join(NORMALIZATIONS)}") from None
