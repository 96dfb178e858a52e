"""Joins the model calls of concurrent requests into one batch, on the event loop itself.

Requests queue their 28x28 crops and await a future; the first one in an event-loop turn schedules a
run at the end of that turn, which classifies everything queued by then in one model call. Under load,
many requests share a forward pass; a lone request waits for nothing but its own. The model runs on
the loop's thread: a second thread would fight the loop for the GIL (measured: decoding a 28x28 PNG took
7x longer beside a model thread), so a process uses one core and ``--workers`` adds processes.
"""

from __future__ import annotations

import asyncio

import numpy as np

from digitlab.inference.classifier import Classifier


class MicroBatcher:
    def __init__(self, model: Classifier, max_batch: int = 256) -> None:
        self.model = model
        self.max_batch = max_batch
        self._queue: list[tuple[np.ndarray, asyncio.Future]] = []
        self._scheduled = False
        self.batches = 0  # forward passes run (for tests and benchmarks)
        self.images = 0

    async def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """(N, C) probabilities for uint8 (N, 28, 28) crops, computed together with other waiting requests."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((crops, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run_queued)
        return await future

    def _run_queued(self) -> None:
        self._scheduled = False
        jobs = [(crops, future) for crops, future in self._queue if not future.done()]  # skip cancelled
        self._queue = []
        while jobs:
            batch, count = [], 0
            while jobs and (not batch or count + len(jobs[0][0]) <= self.max_batch):
                batch.append(jobs.pop(0))
                count += len(batch[-1][0])
            self._run(batch)

    def _run(self, jobs: list[tuple[np.ndarray, asyncio.Future]]) -> None:
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
