"""Where a figure was measured, recorded beside every benchmark's numbers."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any


def machine() -> dict[str, Any]:
    """Platform, processor, CPU count, torch and Python versions, date (and torch's threads if torch is loaded).

    Torch's version comes from the installed metadata, without importing torch: a benchmark of start-up must
    not pay for it.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    doc: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                           "cpus": os.cpu_count(), "torch": torch_version, "python": sys.version.split()[0],
                           "date": time.strftime("%Y-%m-%d %H:%M")}
    if "torch" in sys.modules:
        doc["threads"] = sys.modules["torch"].get_num_threads()
    return doc
