"""`digitlab predict`: read digits from photos, drawings, directories of images, .npy arrays and IDX files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import typer

from digitlab.cli.options import Json, Threads
from digitlab.errors import DigitlabError
from digitlab.utils.console import err, out, print_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _is_idx(path: Path) -> bool:
    return path.suffix == ".idx" or "-idx" in path.name


def expand(inputs: list[str]) -> Iterator[str]:
    """Directories become the image/array files inside them (sorted); everything else passes through."""
    for item in inputs:
        path = Path(item)
        if item != "-" and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and (
                p.suffix.lower() in IMAGE_SUFFIXES | {".npy"} or _is_idx(p)))
            if not files:
                yield item  # reported as an error: nothing to read there
            yield from (str(p) for p in files)
        else:
            yield item


def ready_digits(path: Path) -> np.ndarray | None:
    """MNIST-ready 28x28 digits from .npy or IDX files; None for anything else (an image to decode)."""
    from digitlab.inference.inputs import as_uint8_images

    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)  # never unpickle a user's file
        except (ValueError, OSError) as e:
            raise DigitlabError(f"not a readable .npy array ({e})") from None
    elif _is_idx(path):
        from digitlab.data.idx import read_idx  # only here: the data package costs 50 ms of start-up

        array = read_idx(path)
    else:
        return None
    return as_uint8_images(array)


def register(app: typer.Typer) -> None:
    @app.command()
    def predict(
        inputs: list[str] = typer.Argument(..., help="Images, directories, .npy arrays, IDX files, or - for stdin."),
        model: str = typer.Option("default", "--model", "-m", help="A shipped model name or a run/model directory."),
        top_k: int = typer.Option(3, "--top-k", min=1, max=10),
        multi: bool = typer.Option(None, "--multi/--single",
                                   help="A number or one digit (default: decide from the ink's shape)."),
        min_confidence: float = typer.Option(None, "--min-confidence", min=0.0, max=1.0,
                                             help="Write ? for digits whose top probability is below this."),
        save_crops: Path = typer.Option(None, "--save-crops", help="Write each 28x28 crop as PNG here.",
                                        file_okay=False),
        ensemble: int = typer.Option(None, "--ensemble", min=1,
                                     help="Average this many shipped members of the default model."),
        runtime: str = typer.Option("auto", "--runtime", help="auto: the model's own checked model.onnx in ONNX "
                                    "Runtime where it has one and onnxruntime is installed (no torch import), "
                                    "torch otherwise; or torch."),
        threads: str = Threads,
        json: bool = Json,
    ) -> None:
        """Read the digit(s) in each input; one clear error line per unreadable input, exit 2 if any failed."""
        from digitlab.utils.threads import use_threads

        with use_threads(threads):
            _predict(inputs, model, top_k, multi, min_confidence, save_crops, ensemble, runtime, json)


def _predict(inputs: list[str], model: str, top_k: int, multi: bool | None, min_confidence: float | None,
             save_crops: Path | None, ensemble: int | None, runtime: str, json: bool) -> None:
    from digitlab.inference.classifier import load_classifier, load_ensemble
    from digitlab.vision.reader import read_crops, recognize

    if ensemble is not None:
        classifier = load_ensemble(ensemble, runtime=runtime)
    else:
        classifier = load_classifier(model, runtime=runtime)
    results: list[dict[str, Any]] = []
    failed = 0
    for item in expand(inputs):
        try:
            path = Path(item)
            if item == "-":
                readings = [recognize(sys.stdin.buffer.read(), classifier, multi, top_k, min_confidence)]
            elif not path.exists():
                raise DigitlabError("no such file")
            elif path.is_dir():
                raise DigitlabError("no images, .npy or IDX files in this directory")
            elif (digits := ready_digits(path)) is not None:
                readings = [read_crops(classifier, digits[i:i + 1], [None], top_k, min_confidence)
                            for i in range(len(digits))]
            else:
                readings = [recognize(path, classifier, multi, top_k, min_confidence)]
        except DigitlabError as e:
            failed += 1
            message = str(e) if str(e).startswith(item) else f"{item}: {e}"
            err.print(f"[red]error:[/red] {message}")
            continue
        for n, reading in enumerate(readings):
            reading.path = item if len(readings) == 1 else f"{item}[{n}]"
            results.append(reading.to_json())
            if save_crops is not None:
                _save_crops(save_crops, reading.path, reading.crops)
            if not json:
                out.print(f"{reading.path}: [bold]{reading.digits}[/bold]  (confidence {reading.confidence:.3f})")
    if json:
        print_json(results)
    if failed:
        raise typer.Exit(2)


def _save_crops(directory: Path, name: str, crops: list[np.ndarray]) -> None:
    from PIL import Image

    from digitlab.utils.fileio import atomic_open

    stem = "stdin" if name == "-" else Path(name).name.replace("[", "-").replace("]", "")
    for i, crop in enumerate(crops):
        with atomic_open(directory / f"{stem}-{i}.png", "wb") as f:
            Image.fromarray(crop).save(f, format="PNG")
