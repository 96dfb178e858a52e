"""digitlab: train, compare, export and serve handwritten-digit recognizers.

The Python API (``load``, ``train``, ``evaluate``, ``recognize``, ``show``) is imported lazily so that
``import digitlab`` stays cheap and the NumPy-only path never imports torch.
"""

from __future__ import annotations

from typing import Any

from digitlab.utils.threads import prepare_environment

__version__ = "0.2.0"
__all__ = ["load", "train", "evaluate", "recognize", "show", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("load", "train", "evaluate", "recognize"):
        from digitlab import api

        return getattr(api, name)
    if name == "show":
        from digitlab.notebook.grid import (
            show,  # not digitlab/show.py: importing it would bind digitlab.show to the module
        )

        return show
    raise AttributeError(f"module 'digitlab' has no attribute {name!r}")


# Before torch loads: its OpenMP threads then spin only briefly at barriers before sleeping, instead of ~9 ms
# against other processes (a user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT is left as it is; see digitlab.utils.threads).
prepare_environment()
