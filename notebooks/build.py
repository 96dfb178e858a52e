"""Regenerate the notebooks: each jupytext source ``NN-name.py`` (the source of truth) becomes ``NN-name.ipynb``,
executed top to bottom here in ``notebooks/`` so that its outputs come from the current code.

    python notebooks/build.py                 # all of them, full mode (make notebooks)
    python notebooks/build.py --fast 05       # DIGITLAB_FAST=1, only the notebooks whose name starts with 05

Run with the project's virtualenv: the kernel is its ``python3``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT_S = 1800


def sources(prefixes: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("[0-9][0-9]-*.py"))
    return [p for p in found if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def execute(source: Path, cwd: Path, fast: bool, timeout: int = CELL_TIMEOUT_S) -> object:
    """The notebook read from ``source``, executed in ``cwd`` (DIGITLAB_FAST set for its kernel)."""
    notebook = jupytext.read(source)
    os.environ["DIGITLAB_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="run only notebooks whose name starts with one of these")
    parser.add_argument("--fast", action="store_true", help="DIGITLAB_FAST=1: fewer epochs, smaller subsets")
    args = parser.parse_args()
    chosen = sources(args.names)
    if not chosen:
        print(f"no notebook matches {args.names}", file=sys.stderr)
        return 2
    for source in chosen:
        start = time.perf_counter()
        notebook = execute(source, HERE, args.fast)
        jupytext.write(notebook, source.with_suffix(".ipynb"))
        print(f"{source.with_suffix('.ipynb').name}: executed in {time.perf_counter() - start:.0f} s"
              f" ({'fast' if args.fast else 'full'} mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
