"""Timing loops: throughput of a batch, latency of single calls, and the CPU's fp32 matmul roof.

Each takes a function and its input, warms it up first, and returns plain numbers (digitlab.bench.stats
summarises latency samples).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def throughput(run: Callable[[Any], Any], batch: Any, n_images: int, min_seconds: float = 0.5,
               min_repeats: int = 3) -> float:
    """Images per second: the median over repeats (at least ``min_repeats``, at least ``min_seconds`` in all).

    >>> throughput(lambda x: sum(x), list(range(100)), 100, min_seconds=0.01) > 0
    True
    """
    run(batch)  # warm-up: first-call allocation, TorchScript's profiling runs
    run(batch)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t)
    return n_images / statistics.median(times)


def latencies(run: Callable[[Any], Any], one: Any, count: int = 1000, max_seconds: float = 3.0) -> np.ndarray:
    """Seconds per single-image call, ``count`` calls (fewer if ``max_seconds`` runs out, never under 100),
    after a warm-up of 20 calls."""
    for _ in range(20):
        run(one)
    out = []
    deadline = time.perf_counter() + max_seconds
    while len(out) < count and (len(out) < 100 or time.perf_counter() < deadline):
        t = time.perf_counter_ns()
        run(one)
        out.append((time.perf_counter_ns() - t) * 1e-9)
    return np.asarray(out)


def matmul_roof(size: int = 1024, min_seconds: float = 1.0) -> float:
    """FLOP/s of a large fp32 matrix product (torch, all threads): this machine's practical arithmetic peak."""
    import torch

    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1))
    torch.mm(a, b)
    best = float("inf")
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best
