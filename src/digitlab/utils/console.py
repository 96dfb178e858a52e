"""Where the CLI writes: results to stdout (JSON under --json), progress and errors to stderr."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    """``obj`` as one strict JSON document on stdout (digitlab.utils.jsonable: NaN becomes null)."""
    from digitlab.utils.jsonable import dumps

    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()
