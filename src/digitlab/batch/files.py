"""Which files a batch job reads: directories (walked), glob patterns and plain files, in a stable order."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from digitlab.errors import DigitlabError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
GLOB_CHARS = frozenset("*?[")


def list_images(inputs: Iterable[str | os.PathLike]) -> list[str]:
    """The files to read, each once, in the order given (a directory's and a glob's files sorted).

    A directory contributes every file with an image suffix below it (hidden ones skipped); a glob
    (``scans/**/*.jpg``, ``**`` matching any depth) every file it matches, whatever its suffix; a file itself.
    A missing path, an empty directory or a glob that matches nothing is an error: a typo should not read
    nothing and succeed.

    >>> list_images(["scans/", "extra/*.png", "one.jpg"])    # doctest: +SKIP
    ['scans/a.jpg', 'scans/b/c.png', 'extra/x.png', 'one.jpg']
    """
    seen: set[str] = set()
    files: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        if text == "-":
            raise DigitlabError("batch reading takes files, directories or globs, not - (stdin)")
        if os.path.isdir(text):
            found = _walk(text)
            if not found:
                raise DigitlabError(f"{text}: no image files in this directory ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif GLOB_CHARS & set(text) and not os.path.exists(text):
            found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise DigitlabError(f"{text}: no files match this pattern")
        elif os.path.exists(text):
            found = [text]
        else:
            raise DigitlabError(f"{text}: no such file or directory")
        for path in found:
            if path not in seen:
                seen.add(path)
                files.append(path)
    return files


def _walk(directory: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(root, n) for n in names
                     if not n.startswith(".") and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES)
    return sorted(found)
