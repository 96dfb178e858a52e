"""``engine="ray"``: Ray Data reads and decodes the files in tasks and classifies in a pool of actors.

    paths --from_items--> blocks --map_batches(decode, tasks, 1 CPU each)--> 28x28 crops (a few hundred bytes
    per digit, not the images, travel through the object store) --map_batches(Classify, actor pool)--> rows
    --iter_batches--> the driver, which writes the parts (digitlab.batch.output).

Each decode task loads the model once per worker process (it breaks segmentation near-ties, as in
``digitlab.recognize``); each actor keeps one single-threaded ONNX Runtime session and classifies a whole
batch of files' digits per call. Classification is a few percent of the work, so actors reserve no CPU of
their own (``ACTOR_CPUS``): every CPU decodes, and the actors fill the gaps.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable
from typing import Any

import numpy as np

from digitlab.batch.rows import Decoded, classify, decode_file, worker_classifier
from digitlab.errors import DigitlabError
from digitlab.utils.extras import require

ACTOR_CPUS = 0.0  # see the module docstring; benchmarks/batch_read.py measured the split (docs/benchmarks.md)
DECODE_CPUS = 1.0
CPUS_PER_ACTOR = 16  # one classifier actor per this many CPUs of the cluster (at least one)
# A private Ray on a busy machine: longer waits for the node's Python agents. Ray 2.60's raylet still waits only
# 15 s (fixed) for the agents' port files, and ray.init 30 s for the node: at a load of 10 on this 2-core box the
# agents took 17-20 s and the start failed; connect() then tries once more and says so if that fails too.
LOCAL_SYSTEM_CONFIG = {"agent_register_timeout_ms": 120_000, "raylet_start_wait_time_s": 120}


def connect(address: str | None, workers: int | None) -> bool:
    """Make sure this process is a Ray driver; True if it started (or joined) Ray and should shut it down.

    ``address``: None starts a private local Ray with ``workers`` CPUs (default: this machine's); ``auto``
    joins the cluster started on this machine by ``ray start``; ``HOST:PORT`` (or ``ray://HOST:PORT``) a
    remote one. An existing connection (``ray.init`` called by the caller) is used as it is.
    """
    ray = require("ray", "scale", "--engine ray")
    require("ray.data", "scale", "--engine ray")
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        from digitlab.utils.threads import usable_cpus

        for attempt in (1, 2):  # Ray gives its node 30 s to start; a busy machine may need a second try
            try:
                ray.init(address="local", num_cpus=workers or usable_cpus(), include_dashboard=False,
                         _system_config=LOCAL_SYSTEM_CONFIG, **options)
                return True
            except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for this
                ray.shutdown()
                if "timed out during startup" not in str(e) or attempt == 2:
                    raise DigitlabError(f"a local Ray did not start: {str(e).strip().splitlines()[0]}") from None
    if address != "auto" and not address.startswith("ray://"):
        check_reachable(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DigitlabError(f"cannot connect to Ray at {address}: {first}") from None
    return True


def check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's own minute of retries, when nothing listens at HOST:PORT."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DigitlabError(f"--address takes auto or HOST:PORT; got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise DigitlabError(f"cannot reach a Ray cluster at {address} ({e.strerror or e})") from None


def decode_batch(batch: Any, model: str, runtime: str, multi: bool | None) -> Any:
    """A Ray Data batch of (path, file) to crops: one row per file, its digits as raw uint8 bytes."""
    import pyarrow as pa

    scorer = worker_classifier(model, runtime)
    decoded = [decode_file(p, f, scorer, multi) for p, f in zip(batch["path"].to_pylist(),
                                                                 batch["file"].to_pylist(), strict=True)]
    return pa.table({
        "path": [d.path for d in decoded],
        "crops": pa.array([d.crops.tobytes() for d in decoded], pa.binary()),
        "boxes": pa.array([d.boxes if d.error is None else None for d in decoded], pa.list_(pa.list_(pa.int32()))),
        "error": pa.array([d.error for d in decoded], pa.string()),
    })


class Classify:
    """The actor: one classifier, a batch of files' digits per ONNX Runtime call."""

    def __init__(self, model: str, runtime: str, min_confidence: float | None) -> None:
        self.classifier = worker_classifier(model, runtime)
        self.min_confidence = min_confidence

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from digitlab.batch.output import arrow_schema

        decoded = [Decoded(row["path"], np.frombuffer(row["crops"], np.uint8).reshape(-1, 28, 28), row["boxes"] or [],
                           row["error"]) for row in batch.to_pylist()]
        return pa.Table.from_pylist(classify(decoded, self.classifier, self.min_confidence), schema=arrow_schema())


def run_ray(paths: list[str], files: list[str], sink: Callable[[list[dict[str, Any]]], None], *,
            address: str | None, workers: int | None, batch_size: int, model: str, runtime: str,
            multi: bool | None, min_confidence: float | None) -> None:
    """Read ``files`` (rows named by ``paths``) on Ray; hand rows to ``sink`` as blocks finish."""
    started = connect(address, workers)
    import ray
    import ray.data

    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = min(len(files), max(math.ceil(len(files) / batch_size), 4 * cpus))
        actors = max(1, cpus // CPUS_PER_ACTOR)
        dataset = (
            ray.data.from_items([{"path": p, "file": f} for p, f in zip(paths, files, strict=True)],
                                override_num_blocks=blocks)
            .map_batches(decode_batch, batch_format="pyarrow", batch_size=batch_size, num_cpus=DECODE_CPUS,
                         fn_kwargs={"model": model, "runtime": runtime, "multi": multi})
            .map_batches(Classify, batch_format="pyarrow", batch_size=batch_size, num_cpus=ACTOR_CPUS,
                         compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                         fn_constructor_kwargs={"model": model, "runtime": runtime,
                                                "min_confidence": min_confidence})
        )
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            sink(table.to_pylist())
    finally:
        if started:
            ray.shutdown()
