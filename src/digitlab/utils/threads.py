"""How many threads a piece of work gets, and OpenMP threads that soon sleep instead of spinning.

The policy, for every training and inference path (torch, the NumPy network, ONNX Runtime):

- An explicit choice wins: ``threads=N`` / ``--threads N`` (or a ``use_threads(N)`` block around the work),
  else ``DIGITLAB_THREADS``, else the user's own ``OMP_NUM_THREADS``. ``auto`` (the default) means: decide here.
- Otherwise the work decides. A step (one training batch: MACs/image x batch x 3 for forward and backward;
  one inference call: MACs/image x batch) under ``MACS_PER_THREAD`` runs on one thread: splitting it costs
  more in synchronisation than it saves. Bigger work gets one thread per ``MACS_PER_THREAD``, at most one per
  free CPU: the CPUs this process may run on (``os.sched_getaffinity``) minus those other processes kept busy
  lately (measured from the kernel's CPU counters, this process's own time subtracted), and never fewer than 1.
  A thread that has to wait for a core another process holds stalls every barrier of every step.
- ``prepare_environment()``, called before torch is imported, sets ``GOMP_SPINCOUNT=30000`` unless the user set
  an OpenMP wait policy or spin count already. libgomp's default, 300,000 spins, is ~9 ms of busy waiting per
  wait on this machine's CPUs (31 ns a spin): waiting threads then fight other processes for the cores (beside two
  busy processes, 70x slower training was measured). 30,000 spins (~1 ms) still bridge the gaps between one
  step's parallel regions; 3,000 (~0.1 ms) made idle 2-thread training 1.2-1.35x slower than the default in
  `digitlab bench load` (docs/benchmarks.md), and ``OMP_WAIT_POLICY=PASSIVE`` (no spinning) made each region
  ~20 us slower (a 65k-float add: 13 -> 35 us on 2 threads). Beside busy processes the policy picks one thread,
  which never waits at a barrier.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from digitlab.errors import DigitlabError

ENV = "DIGITLAB_THREADS"
# Work (multiply-accumulates) per step that pays for one more thread. benchmarks/threads_sweep.py on the idle
# 2-core machine (docs/benchmarks.md, "Threads"): 2 threads / 1 thread = 1.10 at 4.7M MACs (lenet-lite, batch 16:
# sync-bound), 0.83 at 18.7M (lenet-lite, batch 64), 0.59-0.93 above; the crossing lies near 8-10M.
MACS_PER_THREAD = 8e6
TRAIN_FACTOR = 3  # a training step: the forward pass, and about twice its work backward
MIN_WINDOW_S = 0.05  # the shortest span of CPU counters that says anything (they tick every 10 ms)
MAX_WINDOW_S = 10.0  # older counters say little about now: sample afresh
SPIN_COUNT = "30000"  # libgomp spins before a waiting thread sleeps (its default: 300000); see the docstring
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_requested: contextvars.ContextVar[int | None] = contextvars.ContextVar("digitlab_threads", default=None)


def prepare_environment() -> bool:
    """Make OpenMP threads sleep after a short spin (``GOMP_SPINCOUNT``) unless the user chose a wait policy.

    Must run before torch loads its OpenMP runtime (which reads the variables once); does not import torch.
    Also starts the CPU-load measurement that ``free_cpus`` reads. Returns whether the policy was set here.
    """
    _remember(_sample())
    if "torch" in sys.modules or any(name in os.environ for name in WAIT_VARIABLES):
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True


def parse_threads(value: object, source: str = "--threads") -> int | None:
    """A thread request: a positive integer, or ``auto``/None/empty for "decide from the work" (None)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    try:
        count = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        count = 0
    if isinstance(value, bool) or count < 1:
        raise DigitlabError(f"{source} takes a positive integer or auto; got {value!r}")
    return count


@contextlib.contextmanager
def use_threads(threads: object) -> Iterator[None]:
    """Inside the block, work without a ``threads`` of its own runs on ``threads`` (None/"auto": the policy)."""
    token = _requested.set(parse_threads(threads))
    try:
        yield
    finally:
        _requested.reset(token)


def requested_threads(threads: object = None) -> int | None:
    """The explicit choice, if any: ``threads`` (the flag or keyword), else the enclosing ``use_threads``,
    else $DIGITLAB_THREADS, else $OMP_NUM_THREADS (its first level). None: none was made."""
    explicit = parse_threads(threads)
    if explicit is None:
        explicit = _requested.get()
    if explicit is not None:
        return explicit
    explicit = parse_threads(os.environ.get(ENV), ENV)
    if explicit is not None:
        return explicit
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0]
    return parse_threads(omp, "OMP_NUM_THREADS") if omp.strip() else None


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose_threads(macs: float, threads: object = None) -> int:
    """Threads for a step of ``macs`` multiply-accumulates: the explicit choice, else from the work and the
    free CPUs (see the module docstring). ``threads``: an int, ``"auto"`` or None."""
    explicit = requested_threads(threads)
    if explicit is not None:
        return explicit
    wanted = max(1, int(macs // MACS_PER_THREAD))
    return 1 if wanted == 1 else min(wanted, free_cpus())


def training_threads(macs_per_image: float, batch_size: int, threads: object = None) -> int:
    """Threads for training steps of ``batch_size`` images."""
    return choose_threads(macs_per_image * batch_size * TRAIN_FACTOR, threads)


def inference_threads(macs_per_image: float, batch_size: int, threads: object = None) -> int:
    """Threads for one inference call on ``batch_size`` images."""
    return choose_threads(macs_per_image * batch_size, threads)


def run_plan(macs_per_image: float, batch_size: int, eval_batch: int, threads: object = None) -> dict[str, int]:
    """A training run's threads: its steps of ``batch_size`` ("train") and evaluation batches ("eval")."""
    return {"train": training_threads(macs_per_image, batch_size, threads),
            "eval": inference_threads(macs_per_image, eval_batch, threads)}


def torch_macs(module: Any) -> int:
    """Multiply-accumulates per 28x28 image of a torch module (counted on a CPU copy; the RNG left as it was,
    since a sampling model's forward pass draws from it)."""
    import copy

    import torch

    from digitlab.models.complexity import torch_complexity

    if any(p.device.type != "cpu" for p in module.parameters()):
        module = copy.deepcopy(module).cpu()
    with torch.random.fork_rng(devices=[]):
        return torch_complexity(module)[1]


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """torch's intra-op threads set to ``count`` inside the block, restored after."""
    import torch

    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    try:
        yield count
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


# ---- how busy the other processes keep the CPUs -------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    wall: float
    busy: dict[int, float]  # CPU-seconds spent busy so far, per CPU (all processes)
    own: float  # this process's CPU-seconds so far (all its threads)


_last: _Sample | None = None
_last_free: int | None = None


def _remember(sample: _Sample) -> None:
    global _last
    _last = sample


def _busy_seconds() -> dict[int, float]:
    """Busy CPU-seconds per CPU since boot: /proc/stat on Linux (cheap), psutil elsewhere."""
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3].isdigit()]
        tick = os.sysconf("SC_CLK_TCK")
        # user nice system idle iowait irq softirq steal ...: busy = user + nice + system + irq + softirq
        return {int(p[0][3:]): (int(p[1]) + int(p[2]) + int(p[3]) + int(p[6]) + int(p[7])) / tick for p in lines}
    except (OSError, ValueError, IndexError):
        import psutil

        return {i: t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0)
                + getattr(t, "softirq", 0.0) for i, t in enumerate(psutil.cpu_times(percpu=True))}


def _sample() -> _Sample:
    times = os.times()
    return _Sample(time.monotonic(), _busy_seconds(), times.user + times.system)


def busy_cpus(before: _Sample, after: _Sample) -> float:
    """CPUs that other processes kept busy between two samples, on the CPUs this process may use."""
    try:
        mine = os.sched_getaffinity(0)
    except AttributeError:
        mine = set(after.busy)
    wall = after.wall - before.wall
    busy = sum(after.busy[c] - before.busy.get(c, after.busy[c]) for c in mine if c in after.busy)
    return max(0.0, (busy - (after.own - before.own)) / wall) if wall > 0 else 0.0


def free_cpus() -> int:
    """CPUs this process may use that other processes did not keep busy lately (at least 1).

    Measured over the time since the last call (or since ``prepare_environment``); a fresh 50 ms sample when
    there is no recent one. Calls less than 50 ms apart get the previous answer.
    """
    global _last_free
    usable = usable_cpus()
    if usable == 1:
        return 1
    now = _sample()
    before = _last
    if before is not None and now.wall - before.wall < MIN_WINDOW_S and _last_free is not None:
        return _last_free
    if before is None or not MIN_WINDOW_S <= now.wall - before.wall <= MAX_WINDOW_S:
        before = now
        time.sleep(MIN_WINDOW_S)
        now = _sample()
    _remember(now)
    # A CPU counts as taken when others kept it busy more than half the time.
    _last_free = max(1, min(usable, usable - math.floor(busy_cpus(before, now) + 0.5)))
    return _last_free
