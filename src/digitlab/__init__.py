"""digitlab: train, compare, export and serve handwritten-digit recognizers.

The Python API (``load``, ``train``, ``evaluate``, ``recognize``) is imported lazily so that
``import digitlab`` stays cheap and the NumPy-only path never imports torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["load", "train", "evaluate", "recognize", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("load", "train", "evaluate", "recognize"):
        from digitlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'digitlab' has no attribute {name!r}")
