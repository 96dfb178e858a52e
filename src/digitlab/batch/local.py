"""``engine="local"``: a pool of worker processes on this machine, one model (single-threaded) in each."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from digitlab.batch.rows import read_files, worker_classifier

IN_FLIGHT_PER_WORKER = 3  # chunks queued per worker: enough to keep it busy, few enough to bound memory


def chunks(count: int, workers: int, batch_size: int) -> list[slice]:
    """Slices of ``count`` files: at most ``batch_size`` each, and small enough that every worker gets several
    (an even finish)."""
    size = max(1, min(batch_size, math.ceil(count / (workers * 4))))
    return [slice(i, i + size) for i in range(0, count, size)]


def _start_worker(model: str, runtime: str) -> None:
    worker_classifier(model, runtime)  # load once, before the first chunk, so chunks time alike


def run_local(paths: list[str], files: list[str], sink: Callable[[list[dict[str, Any]]], None], *, workers: int,
              batch_size: int, model: str, runtime: str, multi: bool | None, min_confidence: float | None) -> None:
    """Read ``files`` (rows named by ``paths``) in ``workers`` processes; hand each chunk's rows to ``sink``."""
    context = multiprocessing.get_context("forkserver")  # a clean parent to fork from: no threads, no torch
    context.set_forkserver_preload(["digitlab.batch.rows", "digitlab.vision.crops", "digitlab.vision.reader"])
    pending: set[Future] = set()
    todo = iter(chunks(len(files), workers, batch_size))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(model, runtime)) as pool:
        while True:
            while len(pending) < workers * IN_FLIGHT_PER_WORKER and (part := next(todo, None)) is not None:
                pending.add(pool.submit(read_files, paths[part], files[part], model, runtime, multi,
                                        min_confidence))
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                sink(future.result())
