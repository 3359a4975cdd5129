"""Background training jobs for the dashboard: a queue, a concurrency cap and thread-safe controls.

The dashboard process holds one JobManager (shared by every browser tab). Each job trains in its own
daemon thread through lfm.training.experiment, so it is recorded in the run store like a CLI run; the threads
never touch the UI. What the manager adds:
  * a cap on concurrent runs (default one per CPU core); later submissions wait in a FIFO queue;
  * torch's intra-op thread count set to (cores - 1) // running (threads_per_run), so two runs don't
    oversubscribe the cores
    (the setting is process-wide, so it is re-balanced whenever a run starts or ends);
  * orphan stopping: browser sessions `attach` while they are open and `detach` when they close; a job
    not marked keep_alive is stopped once no session has been attached for `orphan_grace_s` (a grace
    period, so a page reload, which closes one session and opens another, does not stop the run);
  * no run lost without a word: a queued job taken off the queue before it started (Stop, every tab
    closed, the dashboard shutting down) is recorded in the run store as "cancelled", with its settings
    (lfm.store.writer.record_cancelled). A queued job has no folder before then, so a dashboard killed
    with kill -9 leaves no record of its queue rather than runs that read "queued" forever;
  * backends: a job trains in a thread of this process ("thread", the default), or on a worker process
    or a Ray task (lfm/lab/backends.py), supervised by its thread here (lfm/lab/remote.py) and steered
    through its run folder; the worker pool is started once per manager and kept warm.
"""

import atexit
import itertools
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lfm.config import RunConfig
from lfm.store.schema import LIVE_STATES, RunState
from lfm.store.writer import record_cancelled
from lfm.training.experiment import PreparedRun, execute, open_run, prepare_run
from lfm.training.loop import TrainingControl, TrainResult

from .backends import available_backends, make_backend
from .priority import lower_this_thread
from .ownership import OWNER_KEY
from .remote import FolderControl, supervise
from .worker import RunSpec


def threads_per_run(cores: int | None, running: int) -> int:
    """torch threads for each of `running` concurrent runs on a machine of `cores` (None: unknown) cores.

    One core is left to the process serving the pages (and, often, the browser showing them): torch's
    OpenMP threads spin while they wait, and sharing every core with a busy UI thread made training ~15x
    slower, measured on 2 cores with the page open (README, "Speed"). Never fewer than one."""
    return max(1, ((cores or 1) - 1) // max(running, 1))


@dataclass(eq=False)
class Job:
    job_id: str  # the manager's id ("job-3"); the run store's id is run_id once the job starts
    run: PreparedRun
    keep_alive: bool = False  # True: keep training when every browser tab is closed
    group: str | None = None  # e.g. a sweep's id, so its jobs can be followed together
    owner: str | None = None  # the browser session that submitted it (lfm/lab/ownership.py); None: no session
    control: TrainingControl | FolderControl = field(default_factory=TrainingControl)
    backend: str = "thread"   # where it trains: thread (in memory), process or ray (steered via its folder)
    task: str = field(default_factory=lambda: secrets.token_hex(6))  # meta["task"] of its run folder
    submitted_at: float = field(default_factory=time.time)
    result: TrainResult | None = None
    state_: RunState = RunState.QUEUED  # QUEUED, RUNNING, then how it ended (never PAUSED: see state)
    thread: threading.Thread | None = field(default=None, repr=False)
    cancelled_id: str | None = None  # the run store's id of its "cancelled" record, if it never started

    @property
    def run_id(self) -> str | None:
        if self.cancelled_id is not None:
            return self.cancelled_id
        if self.backend == "thread":
            return self.run.run_id
        return self.control.run_id  # known once the worker has made the folder

    @property
    def state(self) -> RunState:
        if self.state_ == RunState.RUNNING and self.control.paused:
            return RunState.PAUSED
        return self.state_

    @property
    def active(self) -> bool:
        return self.state in LIVE_STATES


def _warm_up() -> None:
    """Pay torch's one-off lazy imports (~1.5 s, measured, on the first optimiser built in a process)
    while the user is still choosing settings, instead of after they press Start."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)


class JobManager:
    def __init__(self, runs_dir: str | Path, *, max_concurrent: int | None = None, orphan_grace_s: float = 30.0,
                 train_nice: int = 0):
        """train_nice: the Unix nice value its runs train at (lfm.lab.priority): the dashboard's is 10, so
        its pages get the CPU first; 0 trains at the priority of the caller."""
        self.runs_dir = Path(runs_dir)
        self.max_concurrent = max_concurrent or os.cpu_count() or 1
        self.orphan_grace_s = orphan_grace_s
        self.train_nice = train_nice
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._sessions: set[str] = set()
        # when the last session detached; None while one is attached, and before any ever was, so a
        # script driving the manager without sessions is never stopped for having none
        self._unwatched_since: float | None = None
        self._closed = threading.Event()
        self._backends: dict = {}  # backend name -> its engine, started on first use and kept warm
        threading.Thread(target=self._watch_orphans, name="lfm-orphan-watch", daemon=True).start()
        threading.Thread(target=_warm_up, name="lfm-warm-up", daemon=True).start()

    # ---- submitting and following -------------------------------------------------------------------
    def submit(self, cfg: RunConfig, *, name: str | None = None, keep_alive: bool = False, group: str | None = None,
               backend: str = "thread", owner: str | None = None) -> Job:
        """Prepare (may raise DataError / ValueError: nothing is queued then; ValueError too if its run
        folder cannot be created) and queue a run.

        group (e.g. a sweep's id) is kept in the run's config.json as meta["group"], so the run store
        can gather a group's runs after a restart too; owner (the browser session submitting it) likewise
        as meta["owner"], so every view can tell who may steer it. backend: thread, process or ray (one of
        lfm.lab.backends.available_backends()); a worker prepares the run again where it trains."""
        if backend not in available_backends():
            raise ValueError(f"backend = {backend!r} is not available here: allowed {', '.join(available_backends())}")
        meta = {key: value for key, value in (("group", group), (OWNER_KEY, owner)) if value}
        prepared = prepare_run(cfg, self.runs_dir, name=name, meta=meta or None)
        with self._lock:
            if self._closed.is_set():  # nothing would ever start it
                raise ValueError("the dashboard is shutting down: no new runs start")
            control = TrainingControl() if backend == "thread" else FolderControl(self.runs_dir)
            job = Job(f"job-{next(self._ids)}", prepared, keep_alive=keep_alive, group=group, owner=owner,
                      control=control, backend=backend)
            self._jobs[job.job_id] = job
            self._start_queued()
            if job.state_ == RunState.FAILED:  # it could not even start: nothing to keep, the caller is told
                del self._jobs[job.job_id]
                raise ValueError(job.result.reason)
        return job

    def jobs(self) -> list[Job]:
        """Every job of this process, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.submitted_at, reverse=True)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def by_run_id(self, run_id: str) -> Job | None:
        return next((j for j in self.jobs() if j.run_id == run_id), None)

    def active(self) -> list[Job]:
        return [j for j in self.jobs() if j.active]

    def stop(self, job: Job, reason: str = "by the user") -> None:
        """Stop a running job (it saves a checkpoint and ends "stopped"), or take a queued one off the
        queue (it is recorded as "cancelled"). reason completes "stopped ..." / "cancelled ...", e.g.
        "by the user" or "because the dashboard shut down"."""
        with self._lock:
            job.control.stop(reason)
            if job.state_ == RunState.QUEUED:
                self._cancel(job, f"cancelled {reason} before it started")

    def withdraw(self, job: Job) -> None:
        """Take back a job as if it had never been submitted: a queued one is dropped without a record,
        a running one is stopped as by stop. For a batch refused halfway (a sweep whose fifth run's data
        is bad): the runs it queued were never the user's, so they are not recorded as cancelled."""
        with self._lock:
            if job.state_ != RunState.QUEUED:
                self.stop(job, "because its batch was refused")
                return
            job.control.stop("because its batch was refused")
            job.state_ = RunState.CANCELLED
            job.result = TrainResult(RunState.CANCELLED, "withdrawn before it started", 0, None, 0.0)
            del self._jobs[job.job_id]

    def stop_all(self) -> None:
        for job in self.active():
            self.stop(job)

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        """Block until the job has ended (tests and scripts); True if it did within the timeout."""
        deadline = None if timeout is None else time.time() + timeout
        while job.active:
            if deadline is not None and time.time() > deadline:
                return False
            thread = job.thread
            if thread is not None and thread.is_alive():
                thread.join(0.05)
            else:  # queued, or between being given a thread and starting it
                time.sleep(0.05)
        return True

    def close(self, reason: str = "because the job manager closed") -> None:
        """Stop every job (each running one saves its checkpoint and ends "stopped", each queued one is
        recorded as "cancelled"), wait for them, and end the worker pools."""
        with self._lock:
            self._closed.set()  # from here on nothing queued starts (see _start_queued)
        for job in self.active():
            self.stop(job, reason)
        for job in self.jobs():
            self.wait(job, timeout=30)
        for backend in self._backends.values():
            backend.close()

    def close_at_exit(self) -> None:
        """Close when the process exits normally: Streamlit stops its server on Ctrl-C or SIGTERM and
        then Python exits; without this, the daemon threads would be cut off inside torch's native code
        (the process aborts with "terminate called without an active exception") and their runs would
        be left "interrupted" without a checkpoint."""
        atexit.register(self.close, "because the dashboard shut down")

    # ---- browser sessions ---------------------------------------------------------------------------
    def attach(self, session_id: str) -> None:
        with self._lock:
            self._sessions.add(session_id)
            self._unwatched_since = None

    def detach(self, session_id: str) -> None:
        with self._lock:
            self._sessions.discard(session_id)
            if not self._sessions and self._unwatched_since is None:
                self._unwatched_since = time.time()

    def _watch_orphans(self) -> None:
        while not self._closed.wait(1.0):
            with self._lock:
                since = self._unwatched_since
                if since is None or time.time() - since < self.orphan_grace_s:
                    continue
                for job in self.active():
                    if not job.keep_alive:
                        self.stop(job, f"after {self.orphan_grace_s:g} s with no browser tab open")

    # ---- the queue ----------------------------------------------------------------------------------
    def _cancel(self, job: Job, reason: str) -> None:
        """End a job that never started as "cancelled", recorded in the run store with its settings so
        Runs lists it and it can be trained again. Caller holds the lock."""
        try:
            job.cancelled_id = record_cancelled(self.runs_dir, job.run.config.to_dict(), reason,
                                                name=job.run.name, meta=job.run.meta)
        except OSError as exc:  # e.g. the runs folder is gone: the job still ends, and says why
            reason = f"{reason} (not recorded: {exc})"
        job.state_ = RunState.CANCELLED
        job.result = TrainResult(RunState.CANCELLED, reason, 0, None, 0.0)

    def _start_queued(self) -> None:
        """Start queued jobs, oldest first, while fewer than max_concurrent run, unless the manager is
        closing (a run that ends then must not start the next: that one is being cancelled). Caller holds
        the lock."""
        if self._closed.is_set():
            return
        running = self._count_running()
        for job in sorted(self._jobs.values(), key=lambda j: j.submitted_at):
            if running >= self.max_concurrent:
                break
            if job.state_ == RunState.QUEUED:
                job.state_ = RunState.RUNNING
                if job.backend == "thread":
                    try:
                        open_run(job.run)  # the run folder appears now, so every view sees it at once
                    except OSError as exc:  # e.g. the runs folder was removed: it ends here, saying why
                        job.state_ = RunState.FAILED
                        job.result = TrainResult(RunState.FAILED, f"could not create its run folder: {exc}",
                                                 0, None, 0.0)
                        continue
                    target = self._train
                else:
                    target = self._train_remote
                job.thread = threading.Thread(target=target, args=(job,), name=job.job_id, daemon=True)
                running += 1
                self._balance_threads(self._count_running(in_threads=True))
                job.thread.start()

    def _balance_threads(self, running: int) -> None:
        torch.set_num_threads(threads_per_run(os.cpu_count(), running))

    def _train(self, job: Job) -> None:
        lower_this_thread(self.train_nice)  # this thread only: the server's own threads keep their priority
        try:
            job.result = execute(job.run, control=job.control, backend="thread")
        except Exception as exc:  # execute reports training errors itself; this is anything around it
            reason = f"{type(exc).__name__}: {exc}"
            try:
                job.run.writer.fail(reason)
            except OSError:  # nowhere left to record it (e.g. the runs folder is gone): the job still ends
                pass
            job.result = TrainResult(RunState.FAILED, reason, 0, None, 0.0)
        self._ended(job)

    def _train_remote(self, job: Job) -> None:
        """Supervise a job that trains on a worker process or a Ray task (lfm/lab/remote.py)."""
        try:
            with self._lock:
                if job.backend not in self._backends:
                    self._backends[job.backend] = make_backend(job.backend, self.max_concurrent,
                                                               nice=self.train_nice)
                backend = self._backends[job.backend]
            spec = RunSpec(job.run.config.to_dict(), str(self.runs_dir.resolve()), job.run.name,
                           {**job.run.meta, "task": job.task})
            outcome = supervise(backend, spec, job.control, job.task)
            if outcome.status == RunState.CANCELLED:  # stopped before its worker was given it
                with self._lock:
                    self._cancel(job, outcome.reason)
            else:
                job.result = TrainResult(outcome.status, outcome.reason, outcome.steps, None, 0.0)
        except Exception as exc:  # the engine itself failed (e.g. Ray could not start)
            job.result = TrainResult(RunState.FAILED, f"{type(exc).__name__}: {exc}", 0, None, 0.0)
        self._ended(job)

    def _ended(self, job: Job) -> None:
        with self._lock:
            job.state_ = RunState(job.result.status)
            self._start_queued()
            self._balance_threads(self._count_running(in_threads=True))

    def _count_running(self, in_threads: bool = False) -> int:
        """Jobs training now (paused ones included: they hold their slot), or only those training in
        this process's threads (the ones that share its torch thread pool). Caller holds the lock."""
        return sum(j.state_ == RunState.RUNNING and (not in_threads or j.backend == "thread")
                   for j in self._jobs.values())
