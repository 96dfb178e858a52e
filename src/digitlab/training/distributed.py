"""Data-parallel training on torch.distributed, in the processes torchrun starts.

torchrun (``torch.distributed.run``) starts one process per rank and tells each where it stands in its
environment: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/MASTER_PORT. ``session()`` reads them,
joins the process group (gloo on the CPU, nccl on CUDA with the device ``cuda:LOCAL_RANK``) with a timeout on
every collective (``$DIGITLAB_DIST_TIMEOUT`` seconds, default 600) so that the survivors of a dead rank fail
instead of waiting forever, and leaves it cleanly at the end. Without torchrun's variables (or with a world of
one) there is no group and training runs exactly as it always has.

The engine (training/engine.py) then wraps the model in DistributedDataParallel, gives each rank its slice of
every batch (data/batches.py), all-reduces the epoch's figures and lets rank 0 alone write the run directory.

>>> with session("cpu") as dist:          # doctest: +SKIP
...     dist.rank, dist.world_size          # (1, 2) in the second of two processes; dist is None alone
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as tdist
from torch import nn

from digitlab.errors import DigitlabError

TIMEOUT_ENV = "DIGITLAB_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
T = TypeVar("T")


class SharedError(DigitlabError):
    """An error rank 0 met and shared with the other ranks: rank 0 prints it, the others exit quietly."""


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job, after ``session()`` joined the process group."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str  # "gloo" or "nccl"
    device: torch.device  # cpu, or cuda:LOCAL_RANK

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run directory."""
        return self.rank == 0

    def barrier(self) -> None:
        tdist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """The sums over every rank of ``values`` (float64; exact for counts below 2**53)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.tolist()

    def all_max(self, value: float) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return t.item()

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled between our own processes; never a user's file)."""
        box = [obj]
        tdist.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        boxes: list[Any] = [None] * self.world_size
        tdist.all_gather_object(boxes, obj)
        return boxes

    def sync_buffers(self, module: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank.

        DDP broadcasts them before each forward pass, but each rank's last pass of an epoch updates its own copy:
        without this, the ranks would validate, select and save different statistics.
        """
        for buffer in module.buffers():
            tdist.broadcast(buffer.data, src=0)


def env_world() -> tuple[int, int, int, int] | None:
    """(rank, world size, local rank, local world size) from torchrun's variables; None outside torchrun."""
    if "WORLD_SIZE" not in os.environ and "RANK" not in os.environ:
        return None
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        local, local_world = int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        raise DigitlabError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers "
                            "(torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world or not 0 <= local < max(1, local_world):
        raise DigitlabError(f"inconsistent torchrun variables: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}")
    return (rank, world, local, local_world) if world > 1 else None


def timeout_s() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DigitlabError(f"${TIMEOUT_ENV} takes a number of seconds > 0; got {raw!r}")
    return value


def rank_device(name: str, local_rank: int) -> torch.device:
    """The device of this rank: ``cpu``, or ``cuda:LOCAL_RANK`` (``auto``: CUDA when torch sees a GPU)."""
    if name not in ("auto", "cpu", "cuda"):
        raise DigitlabError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DigitlabError("--device cuda asked for, but no CUDA GPU is available (torch sees none)")
    if local_rank >= torch.cuda.device_count():
        raise DigitlabError(f"LOCAL_RANK {local_rank} needs GPU {local_rank}, but torch sees "
                            f"{torch.cuda.device_count()}: start at most that many processes per node")
    return torch.device("cuda", local_rank)


def _term_as_exit(signum: int, frame: Any) -> None:
    # torchrun stops the surviving ranks with SIGTERM: unwind (atomic writes remove their temp files) and exit.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def session(device: str = "auto") -> Iterator[Dist | None]:
    """Join the torchrun job this process belongs to for the block; yield None when it is not in one.

    A group the caller initialised already is used as it is, and left for the caller to destroy.
    Collective errors (a rank died, a timeout) become one DigitlabError naming this rank.
    """
    world = env_world()
    if world is None:
        yield None
        return
    rank, world_size, local_rank, local_world = world
    dev = rank_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    ours = not tdist.is_initialized()
    if ours:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s()),
                                 **({"device_id": dev} if dev.type == "cuda" else {}))
    else:
        backend = tdist.get_backend()
    previous = signal.signal(signal.SIGTERM, _term_as_exit) if _main_thread() else None
    try:
        yield Dist(rank, world_size, local_rank, local_world, backend, dev)
        if ours:
            # Leave together: rank 0 writes the model and report after the last collective, and a rank that
            # tears its connections down meanwhile can make gloo abort rank 0 ("terminate called without an
            # active exception", seen in CI on a resumed run).
            tdist.barrier()
    except (tdist.DistError, RuntimeError) as e:
        if not _is_collective_error(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DigitlabError(f"rank {rank}: lost the other ranks of the job ({first[:200]}); another rank failed "
                            "or was stopped. The last finished epoch can be resumed: --resume RUN_DIR") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if ours and tdist.is_initialized():
            with contextlib.suppress(Exception):
                tdist.destroy_process_group()


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _is_collective_error(e: BaseException) -> bool:
    if isinstance(e, tdist.DistError):
        return True
    text = str(e).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout", "peer",
                                         "broken pipe", "socket"))


def shared(dist: Dist | None, fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 alone, its result (or its DigitlabError) passed to every rank.

    For the steps only rank 0 may take (choosing and creating the run directory, reading config.json and the
    checkpoint): every rank then goes on with the same value or stops with the same error, none left waiting.
    """
    if dist is None:
        return fn()
    result, error = None, None
    if dist.is_main:
        try:
            result = fn()
        except DigitlabError as e:
            error = str(e)
    result, error = dist.broadcast_object((result, error))
    if error is not None:
        raise DigitlabError(error) if dist.is_main else SharedError(error)
    return result  # type: ignore[return-value]


def wrap_model(model: nn.Module, dist: Dist) -> nn.Module:
    """``model`` in DistributedDataParallel on this rank's device (parameters broadcast from rank 0)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)


def convert_sync_bn(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm layers normalised over the global batch (torch's SyncBatchNorm: CUDA only)."""
    if device.type != "cuda":
        raise DigitlabError("--sync-bn needs CUDA: torch's SyncBatchNorm runs on GPUs only (on the CPU each rank "
                            "normalises over its own share of the batch)")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def weights_sha256(module: nn.Module) -> str:
    """A hash of every tensor of ``module``'s state_dict, by name (equal weights <=> equal hashes)."""
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


def launch(nproc_per_node: int, argv: list[str]) -> None:
    """Run ``digitlab <argv>`` in ``nproc_per_node`` processes through torch.distributed.run (torchrun, one node).

    Raises DigitlabError naming the first rank that failed (its own error line is printed above by that rank).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(nproc_per_node),
                                         "-m", "digitlab", *argv])
    try:
        run(args)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
               else f"exited with code {failure.exitcode}")
        raise DigitlabError(f"distributed run failed: rank {rank} (pid {failure.pid}) {how}") from None


def without_option(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            out.append(arg)
    return out


def cli_argv() -> list[str]:
    """This process's ``digitlab`` arguments (what follows the program or ``-m digitlab``)."""
    return list(sys.argv[1:])
