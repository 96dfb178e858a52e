"""The one summary of timing samples every digitlab benchmark reports: percentiles, named and in one unit.

Percentiles use linear interpolation between the two nearest samples (numpy's default method), so a p99 here
means the same thing in `digitlab bench infer`, `bench predict`, `bench serve`, `bench startup` and the scripts
in benchmarks/.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6}


def latency_summary(seconds: Iterable[float], quantiles: Sequence[float] = (50, 99), unit: str = "ms",
                    digits: int | None = None) -> dict[str, float | None]:
    """Percentiles of timings given in seconds, converted to ``unit`` (s, ms or us) and optionally rounded.

    Keys are ``p{q}_{unit}``, except that percentile 0 is called ``min_{unit}`` and 100 ``max_{unit}`` (they are
    the smallest and largest sample exactly). With no samples every value is None.

    >>> latency_summary([0.004, 0.001, 0.003, 0.002], (0, 50, 100))
    {'min_ms': 1.0, 'p50_ms': 2.5, 'max_ms': 4.0}
    >>> latency_summary([], (50, 99))
    {'p50_ms': None, 'p99_ms': None}
    """
    try:
        scale = UNITS[unit]
    except KeyError:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}; got {unit!r}") from None
    values = np.asarray(list(seconds), dtype=np.float64) * scale
    doc: dict[str, float | None] = {}
    for q in quantiles:
        if not 0 <= q <= 100:
            raise ValueError(f"percentiles lie in [0, 100]; got {q}")
        name = "min" if q == 0 else "max" if q == 100 else f"p{q:g}"
        value = float(np.percentile(values, q)) if len(values) else None
        doc[f"{name}_{unit}"] = value if value is None or digits is None else round(value, digits)
    return doc
