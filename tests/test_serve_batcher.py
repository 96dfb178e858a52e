"""MicroBatcher: requests waiting in the same event-loop turn share one model call, and each gets its own rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from digitlab.serve.batcher import MicroBatcher


class RecordingModel:
    """Each image's 'probability' row is its own first two pixels, so answers trace back to their images."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.fail = False

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(images))
        if self.fail:
            raise RuntimeError("model broke")
        return images[:, 0, :2].astype(np.float32)


def crops(*firsts: int) -> np.ndarray:
    out = np.zeros((len(firsts), 28, 28), np.uint8)
    out[:, 0, 0] = firsts
    return out


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch=64)

    async def main():
        return await asyncio.gather(*(batcher.predict_proba(crops(10 + i, 20 + i)) for i in range(5)))

    answers = run(main())
    assert [a[:, 0].tolist() for a in answers] == [[10 + i, 20 + i] for i in range(5)]
    assert model.batch_sizes == [10] and batcher.batches == 1 and batcher.images == 10


def test_a_lone_request_waits_for_no_one_and_later_requests_get_new_batches():
    model = RecordingModel()
    batcher = MicroBatcher(model)

    async def main():
        first = await batcher.predict_proba(crops(1))
        second = await batcher.predict_proba(crops(2, 3))
        return first, second

    first, second = run(main())
    assert first[:, 0].tolist() == [1] and second[:, 0].tolist() == [2, 3]
    assert model.batch_sizes == [1, 2]


def test_batches_stop_at_max_batch():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch=4)

    async def main():
        return await asyncio.gather(*(batcher.predict_proba(crops(i, i, i)) for i in range(5)))

    answers = run(main())
    assert [a[:, 0].tolist() for a in answers] == [[i, i, i] for i in range(5)]
    assert max(model.batch_sizes) <= 4 and sum(model.batch_sizes) == 15


def test_a_model_error_reaches_every_waiting_caller_and_the_next_call_works():
    model = RecordingModel()
    batcher = MicroBatcher(model)
    model.fail = True

    async def main():
        results = await asyncio.gather(*(batcher.predict_proba(crops(i)) for i in range(3)), return_exceptions=True)
        model.fail = False
        return results, await batcher.predict_proba(crops(7))

    results, after = run(main())
    assert all(isinstance(r, RuntimeError) and "model broke" in str(r) for r in results)
    assert after[0, 0] == 7


def test_cancelled_requests_are_skipped():
    model = RecordingModel()
    batcher = MicroBatcher(model)

    async def main():
        tasks = [asyncio.create_task(batcher.predict_proba(crops(i))) for i in (1, 2, 3)]
        await asyncio.sleep(0)  # all three have queued; the model runs on the next loop turn
        tasks[1].cancel()  # that client went away
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, gone, third = run(main())
    assert isinstance(gone, asyncio.CancelledError)
    assert first[0, 0] == 1 and third[0, 0] == 3
    assert model.batch_sizes == [2]


@pytest.mark.parametrize("count", [1, 3])
def test_an_empty_queue_after_cancelling_everyone_runs_nothing(count):
    model = RecordingModel()
    batcher = MicroBatcher(model)

    async def main():
        tasks = [asyncio.create_task(batcher.predict_proba(crops(i))) for i in range(count)]
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)

    run(main())
    assert model.batch_sizes == []
