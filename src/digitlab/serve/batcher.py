"""Joins the model calls of concurrent requests into one batch.

One worker thread owns the model. Requests queue their 28x28 crops and await a future; the worker
takes everything queued (up to ``max_batch`` images) at once, so under load many requests share one
forward pass, and a lone request waits for nothing but its own. torch releases the GIL while it
computes, so the event loop keeps serving on the other core meanwhile.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future

import numpy as np

from digitlab.artifacts import Classifier

_STOP = object()


class MicroBatcher:
    def __init__(self, model: Classifier, max_batch: int = 256) -> None:
        self.model = model
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # forward passes run (for tests and benchmarks)
        self.images = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="digitlab-model", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, crops: np.ndarray) -> Future:
        """Queue uint8 (N, 28, 28) crops; the future gets their (N, C) probabilities."""
        future: Future = Future()
        self._queue.put((crops, future))
        return future

    async def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        if self._thread is None:
            raise RuntimeError("the model worker is not running")
        return await asyncio.wrap_future(self.submit(crops))

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            jobs = [job]
            count = len(job[0])
            while count < self.max_batch:  # take what else is waiting, without waiting for more
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    self._queue.put(_STOP)
                    break
                jobs.append(job)
                count += len(job[0])
            self._run(jobs)

    def _run(self, jobs: list[tuple[np.ndarray, Future]]) -> None:
        jobs = [(crops, future) for crops, future in jobs if future.set_running_or_notify_cancel()]
        if not jobs:
            return
        try:
            probs = self.model.predict_proba(np.concatenate([crops for crops, _ in jobs]))
        except Exception as e:  # noqa: BLE001 - every waiting request must hear about it
            for _, future in jobs:
                future.set_exception(e)
            return
        self.batches += 1
        self.images += len(probs)
        start = 0
        for crops, future in jobs:
            future.set_result(probs[start:start + len(crops)])
            start += len(crops)
