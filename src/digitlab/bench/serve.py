"""Requests per second and latency of `digitlab serve` under concurrent clients (`digitlab bench serve`).

The server runs in its own process (started here, or one already listening on --port); the load generator
(digitlab.bench.loadgen) runs in this one. Both share the machine, as a client on the same host would.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from digitlab.bench.machine import machine
from digitlab.errors import DigitlabError
from digitlab.serve.launch import free_port, wait_healthy

PAYLOADS = {
    "canvas": "280x280 PNG, dark ink on white: an MNIST test digit as the drawing page sends it",
    "mnist": "28x28 grey PNG of an MNIST test digit (light on black), as a client that crops its own digits sends",
    "photo": "1000x1000 JPEG q90 photo of an MNIST test digit on paper",
}


def payloads(kind: str, count: int) -> list[tuple[bytes, str]]:
    """``count`` different request bodies of the given kind, each with the digit it shows."""
    from PIL import Image

    from digitlab.data import load_dataset

    test = load_dataset("mnist").test
    rng = np.random.default_rng(0)
    bodies = []
    for i in range(count):
        digit = np.asarray(test.images[i])
        if kind == "mnist":
            image, fmt = Image.fromarray(digit), "PNG"
        elif kind == "canvas":
            image, fmt = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BILINEAR), "PNG"
        elif kind == "photo":
            from digitlab.vision.synthetic import photo_digit

            image, fmt = photo_digit(digit, rng).convert("RGB").resize((1000, 1000)), "JPEG"
        else:
            raise DigitlabError(f"--payload must be one of {', '.join(PAYLOADS)}; got {kind!r}")
        buf = io.BytesIO()
        image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        bodies.append((buf.getvalue(), str(int(test.labels[i]))))
    return bodies


def _tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (uvicorn's workers); none if it has exited."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB."""
    total = 0
    for member in _tree(pid):
        try:
            total += member.memory_info().rss
        except psutil.Error:  # exited since it was listed
            pass
    return total / 2**20


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants."""
    total = 0.0
    for member in _tree(pid):
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


class RssSampler(threading.Thread):
    """Samples a process tree's resident memory (MB) every ``every`` seconds until ``stop()``."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append(round(tree_rss_mb(self.pid), 1))
            self._done.wait(self.every)

    def stop(self) -> list[float]:
        self._done.set()
        self.join()
        return self.samples


def start_server(port: int, workers: int, model: str, log: Path, extra: list[str]) -> subprocess.Popen:
    """`digitlab serve` on 127.0.0.1:``port`` in its own process (without our API key), once it answers /health."""
    command = [sys.executable, "-m", "digitlab.cli", "serve", "--port", str(port), "--workers", str(workers),
               "--model", model, *extra]
    env = {k: v for k, v in os.environ.items() if k != "DIGITLAB_API_KEY"}
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_healthy(process, port)
    except DigitlabError as e:
        process.kill()
        raise DigitlabError(f"{e}; its log: {log}") from None
    return process


def parse_levels(concurrency: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]; anything else is one clear error."""
    try:
        levels = [int(v) for v in concurrency.split(",") if v.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise DigitlabError(f"--concurrency takes positive integers, e.g. 1,8,32; got {concurrency!r}")
    return levels


def measure_serve(levels: list[int], seconds: float = 10.0, warmup: float = 2.0, payload: str = "canvas",
                  workers: int = 1, model: str = "default", port: int = 0, api_key: str | None = None,
                  server_args: str = "", progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Closed-loop clients at each level of ``levels`` for ``seconds`` (after ``warmup``), against a server
    started here (``port`` 0) or already on 127.0.0.1:``port``: one summary row per level, plus the goal.

    >>> doc = measure_serve([1, 32], seconds=5)  # doctest: +SKIP
    >>> [row["req_per_s"] for row in doc["levels"]]  # doctest: +SKIP
    [410.2, 1630.5]
    """
    from digitlab.bench.loadgen import build_request, new_event_loop, run_load

    bodies = payloads(payload, 64)
    content_type = "image/jpeg" if payload == "photo" else "image/png"
    log = Path(tempfile.mkdtemp(prefix="digitlab-bench-serve-")) / "server.log"
    server = None
    if port == 0:
        port = free_port()
        server = start_server(port, workers, model, log, server_args.split())
    requests = [(build_request("127.0.0.1", port, "/v1/recognize?multi=false", body, content_type, api_key), label)
                for body, label in bodies]
    loop = new_event_loop()
    rows = []
    try:
        for level in levels:
            if warmup:
                loop.run_until_complete(run_load("127.0.0.1", port, requests, level, warmup))
            sampler = RssSampler(server.pid) if server else None
            if sampler:
                sampler.start()
            server_cpu = tree_cpu_seconds(server.pid) if server else 0.0
            client_cpu = time.process_time()
            result = loop.run_until_complete(run_load("127.0.0.1", port, requests, level, seconds))
            client_cpu = time.process_time() - client_cpu
            row = result.summary()
            served = max(1, row["requests"])
            # CPU per request is steadier than req/s on a shared machine: it does not count others' time.
            row["client_cpu_ms_per_request"] = round(client_cpu / served * 1e3, 3)
            if server:
                row["server_cpu_ms_per_request"] = round((tree_cpu_seconds(server.pid) - server_cpu) / served * 1e3, 3)
            if sampler:
                rss = sampler.stop()
                row.update(rss_start_mb=rss[0], rss_end_mb=rss[-1], rss_min_mb=min(rss), rss_max_mb=max(rss))
            rows.append(row)
            progress(f"{level} clients: {row['req_per_s']} req/s, p99 {row['p99_ms']} ms")
    finally:
        loop.close()
        if server:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    doc = {"benchmark": "serve", "payload": payload, "payload_description": PAYLOADS[payload],
           "bytes_mean": round(float(np.mean([len(b) for b, _ in bodies]))), "workers": workers, "model": model,
           "server_args": server_args,
           "seconds_per_level": seconds, "levels": rows, "cpus": os.cpu_count(),
           "load_average": os.getloadavg()[0], "machine": machine(),
           "goal": "32 clients: >= 1500 req/s, p99 <= 50 ms, 0 errors"}
    top = next((r for r in rows if r["concurrency"] == 32), None)
    if top:
        doc["goal_met"] = top["req_per_s"] >= 1500 and (top["p99_ms"] or 1e9) <= 50 and top["errors"] == 0
    return doc
