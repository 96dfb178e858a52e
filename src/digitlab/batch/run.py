"""``read_images``: read every image of directories, globs and files into one Parquet or JSONL file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from digitlab.batch.files import list_images
from digitlab.batch.output import ResultsFile, output_format
from digitlab.errors import DigitlabError

ENGINES = ("local", "ray")
BATCH_SIZE = 64


@dataclass
class BatchSummary:
    """What one ``read_images`` call did."""

    out: str
    engine: str
    files: int  # listed from the inputs
    skipped: int  # already in the output
    read: int  # rows written this run with digits
    failed: int  # rows written this run with an error
    seconds: float  # reading time, from the first file to the last row

    @property
    def images_per_s(self) -> float:
        return (self.read + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "images_per_s": round(self.images_per_s, 2)}


def read_images(inputs: str | os.PathLike | Iterable[str | os.PathLike], out: str | os.PathLike, *,
                engine: str = "local", model: str = "default", runtime: str = "auto", address: str | None = None,
                workers: int | None = None, batch_size: int = BATCH_SIZE, multi: bool | None = None,
                min_confidence: float | None = None, retry_errors: bool = False,
                progress: Callable[[str], None] | None = None) -> BatchSummary:
    """Read the digits in many images in parallel; one row per file in ``out`` (.parquet or .jsonl).

    ``inputs``: directories (walked for image files), globs (``scans/**/*.jpg``) or files. A row holds the
    path, the digits, the confidence, each digit's probabilities and box, and ``error`` (None when read; a bad
    file gets its error and the rest are read). Files already in ``out`` are skipped (``retry_errors``: except
    those that failed), so a killed or extended job is re-run with the same call.

    ``engine``: ``local``, a process pool on this machine (``workers`` processes, default one per CPU), or
    ``ray``, Ray Data (``address``: None for a private local Ray with ``workers`` CPUs, ``auto`` or
    ``HOST:PORT`` for a cluster; needs ``pip install 'digitlab[scale]'``). ``batch_size``: files per batch
    handed to a worker. ``model``, ``runtime``, ``multi``, ``min_confidence``: as in ``digitlab.recognize``.

    >>> summary = read_images("scans/", "results.parquet", engine="ray")     # doctest: +SKIP
    >>> summary.read, summary.failed, round(summary.images_per_s)           # doctest: +SKIP
    (9998, 2, 210)
    """
    if engine not in ENGINES:
        raise DigitlabError(f"--engine must be local or ray; got {engine!r}")
    output_format(out)
    if batch_size < 1:
        raise DigitlabError(f"--batch-size must be at least 1; got {batch_size}")
    if workers is not None and workers < 1:
        raise DigitlabError(f"--workers must be at least 1; got {workers}")
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise DigitlabError(f"--min-confidence must lie in 0..1; got {min_confidence}")
    if address is not None and engine != "ray":
        raise DigitlabError("--address is for --engine ray")
    if engine == "ray":
        from digitlab.utils.extras import require

        require("ray", "scale", "--engine ray")
        if address is not None and address != "auto" and not address.startswith("ray://"):
            from digitlab.batch.ray_engine import check_reachable

            check_reachable(address)  # before listing what may be millions of files
    from digitlab.inference.classifier import resolve_model_dir

    resolve_model_dir(model)  # a bad name fails here, not once per worker
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    say = progress or (lambda _msg: None)
    listed = list_images(inputs)
    counts = {"read": 0, "failed": 0}
    with ResultsFile(out) as results:
        done = results.done(retry_errors)
        paths = [p for p in listed if p not in done]
        say(f"{len(listed)} files, {len(listed) - len(paths)} already in {out}, {len(paths)} to read ({engine})")

        def sink(rows: list[dict[str, Any]]) -> None:
            results.add(rows)
            failed = sum(row["error"] is not None for row in rows)
            counts["failed"] += failed
            counts["read"] += len(rows) - failed

        start = time.perf_counter()
        if paths:
            files = [os.path.abspath(p) for p in paths]  # workers may run in another directory
            options = dict(batch_size=batch_size, model=model, runtime=runtime, multi=multi,
                           min_confidence=min_confidence)
            if engine == "local":
                from digitlab.batch.local import run_local
                from digitlab.utils.threads import usable_cpus

                run_local(paths, files, sink, workers=workers or usable_cpus(), **options)
            else:
                from digitlab.batch.ray_engine import run_ray

                run_ray(paths, files, sink, address=address, workers=workers, **options)
        seconds = time.perf_counter() - start
    return BatchSummary(os.fspath(out), engine, len(listed), len(listed) - len(paths), counts["read"],
                        counts["failed"], round(seconds, 3))
