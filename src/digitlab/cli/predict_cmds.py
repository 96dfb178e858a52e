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
        inputs: list[str] = typer.Argument(..., help="Images, directories, .npy arrays, IDX files, or - for stdin; "
                                           "with --out: directories (walked), globs or image files."),
        model: str = typer.Option("default", "--model", "-m", help="A shipped model name or a run/model directory "
                                  "(default: default, the shipped recognizer)."),
        top_k: int = typer.Option(3, "--top-k", min=1, max=10, help="Most likely digits listed per position "
                                  "(default 3; --out keeps every probability)."),
        multi: bool = typer.Option(None, "--multi/--single",
                                   help="A number or one digit (default: decide from the ink's shape)."),
        min_confidence: float = typer.Option(None, "--min-confidence", min=0.0, max=1.0,
                                             help="Accept a reading only when its confidence (the chance it "
                                             "is right) is at least this; digits under it read as ? (default: "
                                             "accept all)."),
        save_crops: Path = typer.Option(None, "--save-crops", help="Write each 28x28 crop as PNG here "
                                        "(default: none written).", file_okay=False),
        ensemble: int = typer.Option(None, "--ensemble", min=1,
                                     help="Average this many shipped members of the default model (default: "
                                     "the default model alone)."),
        runtime: str = typer.Option("auto", "--runtime", help="auto (the default): the model's own checked "
                                    "model.onnx in ONNX Runtime where it has one and onnxruntime is installed (no "
                                    "torch import), torch otherwise; or torch."),
        threads: str = Threads,
        json: bool = Json,
        out_file: Path = typer.Option(None, "--out", "-o", dir_okay=False, help="Batch mode: one row per file "
                                      "(path, digits, confidence, per-digit probabilities and boxes, error) into "
                                      "this .parquet or .jsonl; files already in it are skipped; exit 0 once "
                                      "every file has a row, bad ones with their error (default: none, print "
                                      "each reading)."),
        engine: str = typer.Option(None, "--engine", help="With --out: local, a process pool on this machine, or "
                                   "ray, Ray Data, which needs digitlab[scale] (default: local)."),
        address: str = typer.Option(None, "--address", help="With --engine ray: auto (the cluster `ray start` "
                                    "began on this machine) or HOST:PORT (default: a private Ray on this machine)."),
        workers: int = typer.Option(None, "--workers", min=1, help="With --out: worker processes (local), or the "
                                    "CPUs of the private Ray (default: one per CPU); each runs one thread."),
        batch_size: int = typer.Option(None, "--batch-size", min=1, help="With --out: files per batch handed to "
                                       "a worker (default 64)."),
        retry_errors: bool = typer.Option(False, "--retry-errors", help="With --out: read again the files whose "
                                          "row holds an error (default: off, skip every file already there)."),
    ) -> None:
        """Read the digit(s) in each input; one clear error line per unreadable input, exit 2 if any failed."""
        from digitlab.utils.threads import use_threads

        if out_file is not None:
            _read_batch(inputs, out_file, engine, address, workers, batch_size, retry_errors, model, multi,
                        min_confidence, runtime, save_crops, ensemble, json)
            return
        if engine is not None or address is not None or workers is not None or batch_size is not None \
                or retry_errors:
            raise DigitlabError("--engine, --address, --workers, --batch-size and --retry-errors go with --out")
        with use_threads(threads):
            _predict(inputs, model, top_k, multi, min_confidence, save_crops, ensemble, runtime, json)


def _read_batch(inputs: list[str], out_file: Path, engine: str | None, address: str | None, workers: int | None,
                batch_size: int | None, retry_errors: bool, model: str, multi: bool | None,
                min_confidence: float | None, runtime: str, save_crops: Path | None, ensemble: int | None,
                json: bool) -> None:
    """``--out``: read every file with digitlab.batch (a process pool or Ray), one row each, then one summary."""
    from digitlab.batch import read_images
    from digitlab.batch.run import BATCH_SIZE
    from digitlab.cli.options import progress_printer

    if save_crops is not None or ensemble is not None:
        raise DigitlabError("--save-crops and --ensemble do not go with --out")
    summary = read_images(inputs, out_file, engine=engine or "local", model=model, runtime=runtime,
                          address=address, workers=workers, batch_size=batch_size or BATCH_SIZE, multi=multi,
                          min_confidence=min_confidence, retry_errors=retry_errors,
                          progress=progress_printer(json))
    if json:
        print_json(summary.to_json())
        return
    new = summary.read + summary.failed
    out.print(f"{summary.out}: {new} files read ({summary.failed} with an error), {summary.skipped} already there; "
              f"{summary.seconds:.1f} s, {summary.images_per_s:.1f} images/s ({summary.engine})")


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
                rejected = "" if reading.accepted else ", [yellow]not accepted[/yellow]"
                out.print(f"{reading.path}: [bold]{reading.digits}[/bold]  (confidence {reading.confidence:.3f}"
                          f"{rejected})")
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
