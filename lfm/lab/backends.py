"""Where runs train: a thread of this process, a pool of worker processes, or a Ray cluster.

The backends differ only in where `lfm.lab.worker.train_one` runs; each worker writes its run folder
into the runs folder, and everything else (progress, steering, results) goes through that folder. Each
backend uses an existing engine for the scheduling:

    thread   concurrent.futures.ThreadPoolExecutor: runs share this interpreter (and its GIL)
    process  multiprocessing.Pool of spawned workers, started once and kept warm (torch is imported
             once per worker, not once per run); a worker that dies is replaced by the pool, and its
             run is reported lost while the others go on
    ray      one Ray task per run; `ray.init()` starts a local Ray, an address (or RAY_ADDRESS) joins
             a cluster; a run on device cuda (or auto, on a cluster with GPUs) asks Ray for a GPU

Each backend has the same three calls: submit(spec) -> ticket, poll(ticket) -> RunOutcome or None
(still training), and close(). A lost run (its worker killed, its node gone) comes back as a RunOutcome
with status "interrupted"; the run folder says the same, because its writer is gone.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.util import find_spec
from typing import Any

from lfm.config import settings_of
from lfm.store.files import pid_alive
from lfm.store.schema import RunState

from .priority import lower_this_process
from .worker import RunOutcome, RunSpec, ignore_interrupts, train_one

BACKENDS = ("thread", "process", "ray")


def available_backends() -> list[str]:
    """The backends this machine can use: ray only where it is installed (pip install .[ray])."""
    return [b for b in BACKENDS if b != "ray" or find_spec("ray") is not None]


def default_workers() -> int:
    return os.cpu_count() or 1


def _lost(reason: str) -> RunOutcome:
    return RunOutcome(None, str(RunState.INTERRUPTED), reason, 0, 0, "")


# ---- thread -----------------------------------------------------------------------------------------

class ThreadBackend:
    name = "thread"

    def __init__(self, max_workers: int | None = None):
        self.max_concurrent = max_workers or default_workers()
        self.torch_threads = max(1, default_workers() // self.max_concurrent)
        self._pool = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="lfm-run")
        self._futures: dict[int, Future] = {}
        self._tickets = itertools.count(1)

    def submit(self, spec: RunSpec) -> int:
        ticket = next(self._tickets)
        spec = spec._replace(torch_threads=self.torch_threads, backend=self.name)
        self._futures[ticket] = self._pool.submit(train_one, spec)
        return ticket

    def poll(self, ticket: int) -> RunOutcome | None:
        future = self._futures[ticket]
        if not future.done():
            return None
        exc = future.exception()
        if exc is not None:
            return RunOutcome(None, str(RunState.FAILED), f"{type(exc).__name__}: {exc}", 0, os.getpid(),
                              socket.gethostname())
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


# ---- process ----------------------------------------------------------------------------------------

_started_queue: Any = None  # in a worker: where it reports (ticket, pid) as it begins a run


def _init_process_worker(started_queue, nice: int) -> None:
    global _started_queue
    lower_this_process(nice)  # first: on Linux it sets the calling thread, and later threads inherit it
    _started_queue = started_queue
    ignore_interrupts()
    _exit_with_parent()
    import torch  # noqa: F401  (imported once per worker, while it waits for its first run)


def _exit_with_parent(every_s: float = 1.0) -> None:
    """End this worker when the process that started the pool is gone (killed, or exited without
    closing the pool): a worker must never go on training for nobody. Its run then reads interrupted."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:  # re-parented: our parent has died
                os._exit(1)

    threading.Thread(target=watch, name="lfm-parent-watch", daemon=True).start()


def _process_entry(ticket: int, spec: RunSpec) -> RunOutcome:
    _started_queue.put((ticket, os.getpid()))
    return train_one(spec)


class ProcessBackend:
    name = "process"

    def __init__(self, max_workers: int | None = None, nice: int = 0):
        """nice: the Unix nice value the workers train at (lfm.lab.priority); 0 keeps the caller's."""
        self.max_concurrent = max_workers or default_workers()
        self.torch_threads = max(1, default_workers() // self.max_concurrent)
        # spawn, not fork: a forked child of a process that already runs torch's thread pools can hang
        context = multiprocessing.get_context("spawn")
        self._started = context.Queue()
        self._pool = context.Pool(self.max_concurrent, initializer=_init_process_worker,
                                  initargs=(self._started, nice))
        self._results: dict[int, Any] = {}  # ticket -> AsyncResult
        self._pids: dict[int, int] = {}     # ticket -> the worker process training it
        self._tickets = itertools.count(1)

    def submit(self, spec: RunSpec) -> int:
        ticket = next(self._tickets)
        spec = spec._replace(torch_threads=self.torch_threads, backend=self.name)
        self._results[ticket] = self._pool.apply_async(_process_entry, (ticket, spec))
        return ticket

    def poll(self, ticket: int) -> RunOutcome | None:
        while not self._started.empty():
            started, pid = self._started.get()
            self._pids[started] = pid
        result = self._results[ticket]
        if result.ready():
            try:
                return result.get()
            except Exception as exc:  # the worker raised outside train_one's own handling
                return RunOutcome(None, str(RunState.FAILED), f"{type(exc).__name__}: {exc}", 0, 0, "")
        pid = self._pids.get(ticket)
        if pid is not None and not pid_alive(pid):  # killed (SIGKILL, the OOM killer): the pool replaced it
            return _lost(f"its worker process {pid} died")
        return None

    def close(self) -> None:
        # terminate, not close: the pool waits forever for the result of a run whose worker died. The
        # sweep closes the backend once every run has ended, so only idle workers are ended here.
        self._pool.terminate()
        self._pool.join()  # every worker has exited: none is left behind


# ---- ray --------------------------------------------------------------------------------------------

def _ray_entry(spec: RunSpec) -> RunOutcome:
    import ray

    ignore_interrupts()
    return train_one(spec)._replace(node=ray.get_runtime_context().get_node_id())


class RayBackend:
    name = "ray"

    def __init__(self, max_workers: int | None = None, *, address: str | None = None,
                 num_cpus: int | None = None, torch_threads: int = 1):
        import ray

        address = address or os.environ.get("RAY_ADDRESS") or None
        self._started_ray = not ray.is_initialized()
        if self._started_ray:  # no address: a local Ray of this machine's cores (or num_cpus)
            ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self._ray = ray
        self.torch_threads = torch_threads
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.max_concurrent = max_workers or max(1, int(resources.get("CPU", 1)) // torch_threads)
        self._task = ray.remote(_ray_entry)
        self._refs: dict[int, Any] = {}
        self._tickets = itertools.count(1)

    def submit(self, spec: RunSpec) -> int:
        device = settings_of(spec.config)["device"]
        wants_gpu = device == "cuda" or (device == "auto" and self.gpus > 0)
        options = {"num_cpus": self.torch_threads, "num_gpus": 1 if wants_gpu else 0,
                   "max_retries": 0}  # a lost run is retried by the sweep from the start, with its seed
        ticket = next(self._tickets)
        spec = spec._replace(torch_threads=self.torch_threads, backend=self.name)
        self._refs[ticket] = self._task.options(**options).remote(spec)
        return ticket

    def poll(self, ticket: int) -> RunOutcome | None:
        ray = self._ray
        ref = self._refs[ticket]
        ready, _ = ray.wait([ref], timeout=0)
        if not ready:
            return None
        try:
            return ray.get(ref)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OwnerDiedError, ray.exceptions.ObjectLostError) as exc:
            return _lost(f"its Ray worker was lost ({type(exc).__name__})")
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return RunOutcome(None, str(RunState.FAILED), first, 0, 0, "")

    def close(self) -> None:
        if self._started_ray:
            self._ray.shutdown()  # stops the local Ray and its workers: nothing is left behind


def make_backend(name: str, max_workers: int | None = None, *, ray_address: str | None = None, nice: int = 0):
    """The backend called `name`; ValueError naming the allowed ones otherwise. nice: the Unix nice value
    worker processes train at (lfm.lab.priority); threads are set by the JobManager, and Ray's workers
    belong to the cluster, whose priorities are its own."""
    if name not in available_backends():
        why = " (ray is not installed: pip install 'lfm-entropy-lab[ray]')" if name == "ray" else ""
        raise ValueError(f"backend = {name!r} is not available{why}: allowed {', '.join(available_backends())}")
    if name == "thread":
        return ThreadBackend(max_workers)
    if name == "process":
        return ProcessBackend(max_workers, nice=nice)
    return RayBackend(max_workers, address=ray_address)
