"""Optional parts live in extras (pyproject.toml); using one without it is a clear error naming the extra.

    onnx = require("onnx", "export", "the ONNX formats")
    # MissingExtra: the ONNX formats need onnx, which is not installed: pip install 'digitlab[export]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from digitlab.errors import MissingExtra


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise MissingExtra saying that ``purpose`` needs ``digitlab[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = e.name or module
        raise MissingExtra(f"{purpose} needs {missing}, which is not installed: pip install 'digitlab[{extra}]'") \
            from None
