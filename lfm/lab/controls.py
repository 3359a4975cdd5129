"""The dashboard's buttons for one live run, whoever trains it.

A run this dashboard trains in one of its threads is steered in memory (its job's TrainingControl: the
fast path, applied at the very next step). Any other live run the dashboard can see — a CLI run, a run
of a worker process, a Ray task, another dashboard's run — is steered through its folder's
control.jsonl (lfm/store/control.py), applied at that run's next log step. The page calls the same
methods either way.

Every command is checked against who sends it (lfm/lab/ownership.py): the page disables the buttons of a
run its session may not steer, and RunControls refuses such a command all the same (SteeringRefused), so
a stale page or a missed check cannot steer someone else's run. Without a steerer it only watches.
"""
from __future__ import annotations

from pathlib import Path

from lfm.store.schema import PAUSED_FLAG, RunState

from .ownership import WATCHER, Permission, Steerer, SteeringRefused, check_steer, may_steer
from .remote import FolderControl


class RunControls:
    """Pause, resume, step, stop and re-weight one run (see the module docstring)."""

    def __init__(self, runs_dir: str | Path, run_id: str, status: dict, job=None, manager=None, *,
                 owner: str | None = None, steerer: Steerer = WATCHER):
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.job = job            # this dashboard's Job for the run, or None
        self.manager = manager    # its JobManager (stops a queued job without a folder command)
        self._status = status     # the run's status.json, as RunReader.status returns it
        # whose run it is: the job's own record where this dashboard has one, else config.json's meta
        self.owner = job.owner if job is not None else owner
        self.steerer = steerer    # who sends the commands
        # the job's own control (in memory, or its folder for a worker's job), else the run's folder
        self._control = job.control if job is not None else FolderControl(runs_dir, source="a dashboard")
        if job is None:
            self._control.attach(run_id)

    @property
    def in_memory(self) -> bool:
        """True when this dashboard trains the run itself (in a thread)."""
        return self.job is not None

    @property
    def state(self) -> RunState:
        if self.job is not None:
            return RunState(self.job.state)
        state = RunState(self._status.get("state", RunState.UNKNOWN))
        return RunState.PAUSED if state is RunState.RUNNING and self._status.get(PAUSED_FLAG) else state

    @property
    def active(self) -> bool:
        return self.state.is_live

    @property
    def permission(self) -> Permission:
        """Whether this steerer may send commands to this run, and if not, why (for the page)."""
        return may_steer(self.steerer, self.owner)

    def pause(self) -> None:
        check_steer(self.steerer, self.owner)
        self._control.pause()

    def resume(self) -> None:
        check_steer(self.steerer, self.owner)
        self._control.resume()

    def step(self) -> None:
        check_steer(self.steerer, self.owner)
        self._control.step()

    def stop(self) -> None:
        check_steer(self.steerer, self.owner)
        if self.job is not None:
            self.manager.stop(self.job)  # also takes a queued job off the queue
        else:
            self._control.stop()

    def set_lambda(self, value: float) -> None:
        check_steer(self.steerer, self.owner)
        self._control.set_lambda(value)


def stop_jobs(manager, jobs, steerer: Steerer) -> None:
    """Stop a group of this dashboard's jobs (a sweep, a lesson set), queued or running, for steerer.

    All or nothing: if steerer may not steer one of them, SteeringRefused is raised before any is stopped."""
    refused = [job for job in jobs if not may_steer(steerer, job.owner).allowed]
    if refused:
        raise SteeringRefused(may_steer(steerer, refused[0].owner).reason)
    for job in jobs:
        manager.stop(job)
