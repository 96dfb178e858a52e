"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""


class DigitlabError(Exception):
    """Base class: anything raised as this is shown to the user without a traceback."""


class DataError(DigitlabError):
    """Malformed, missing or unverifiable data (IDX files, downloads, caches)."""


class ModelError(DigitlabError):
    """Unknown model names, bad model arguments, unreadable model artifacts."""


class ImageError(DigitlabError):
    """An input image that cannot be decoded or read (non-image, empty, too large)."""


class ImageTooLarge(ImageError):
    """An image over the pixel limit (a decompression bomb, or just too big to read here)."""


class MissingExtra(DigitlabError):
    """An optional part used without its extra installed; the message names the `pip install` that adds it."""


class NoInkError(ImageError):
    """A readable image with no digit in it: blank, or nothing clearly darker or lighter than its ground."""
