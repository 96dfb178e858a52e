"""One way to turn results into JSON, for files, reports and `--json` alike.

numpy arrays and scalars become lists and numbers, paths strings, and NaN/inf ``null``: JSON has neither,
and a strict parser (a browser's, Go's) rejects the ``NaN`` that Python's json module writes by default.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)  # e.g. a torch.device in a config: its text is what a reader needs


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (see ``plain``)."""
    return json.dumps(plain(value), indent=indent, allow_nan=False)
