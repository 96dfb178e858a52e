"""MicroBatcher: concurrent requests share model calls, answers go back to their own callers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from digitlab.serve.batcher import MicroBatcher


class SlowModel:
    """Blocks its first call until released, so requests pile up behind it; each image's 'probability'
    row is its own first pixel, so answers can be traced back to their images."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.batch_sizes: list[int] = []
        self.fail = fail

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.started.set()
        self.release.wait(10)
        self.batch_sizes.append(len(images))
        if self.fail:
            raise RuntimeError("model broke")
        return images[:, 0, :2].astype(np.float32)


def crops(*firsts: int) -> np.ndarray:
    out = np.zeros((len(firsts), 28, 28), np.uint8)
    out[:, 0, 0] = firsts
    return out


def test_waiting_requests_share_one_model_call_and_get_their_own_rows():
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch=64)
    batcher.start()
    try:
        first = batcher.submit(crops(1))
        assert model.started.wait(10)
        later = [batcher.submit(crops(10 + i, 20 + i)) for i in range(5)]  # queued while the model is busy
        model.release.set()
        assert first.result(10)[:, 0].tolist() == [1]
        for i, future in enumerate(later):
            assert future.result(10)[:, 0].tolist() == [10 + i, 20 + i]
        assert model.batch_sizes == [1, 10]
        assert batcher.batches == 2 and batcher.images == 11
    finally:
        batcher.stop()


def test_batches_stop_at_max_batch():
    model = SlowModel()
    batcher = MicroBatcher(model, max_batch=4)
    batcher.start()
    try:
        first = batcher.submit(crops(0))
        assert model.started.wait(10)
        later = [batcher.submit(crops(i, i)) for i in range(4)]
        model.release.set()
        first.result(10)
        [f.result(10) for f in later]
        assert model.batch_sizes[0] == 1 and max(model.batch_sizes) <= 4 and sum(model.batch_sizes) == 9
    finally:
        batcher.stop()


def test_a_model_error_reaches_every_waiting_caller_and_the_worker_survives():
    model = SlowModel(fail=True)
    batcher = MicroBatcher(model)
    batcher.start()
    try:
        futures = [batcher.submit(crops(i)) for i in range(3)]
        model.release.set()
        for future in futures:
            with pytest.raises(RuntimeError, match="model broke"):
                future.result(10)
        model.fail = False
        assert batcher.submit(crops(7)).result(10)[0, 0] == 7
    finally:
        batcher.stop()


def test_cancelled_requests_are_skipped():
    model = SlowModel()
    batcher = MicroBatcher(model)
    batcher.start()
    try:
        first = batcher.submit(crops(1))
        assert model.started.wait(10)
        gone = batcher.submit(crops(2))
        kept = batcher.submit(crops(3))
        assert gone.cancel()  # the client went away before its turn
        model.release.set()
        first.result(10)
        assert kept.result(10)[0, 0] == 3
        assert model.batch_sizes == [1, 1]
    finally:
        batcher.stop()
