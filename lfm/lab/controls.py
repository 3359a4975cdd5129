"""The dashboard's buttons for one live run, whoever trains it.

A run this dashboard trains in one of its threads is steered in memory (its job's TrainingControl: the
fast path, applied at the very next step). Any other live run the dashboard can see — a CLI run, a run
of a worker process, a Ray task, another dashboard's run — is steered through its folder's
control.jsonl (lfm/store/control.py), applied at that run's next log step. The page calls the same
methods either way.
"""
from __future__ import annotations

from pathlib import Path

from lfm.store.schema import PAUSED_FLAG, RunState

from .remote import FolderControl


class RunControls:
    """Pause, resume, step, stop and re-weight one run (see the module docstring)."""

    def __init__(self, runs_dir: str | Path, run_id: str, status: dict, job=None, manager=None):
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.job = job            # this dashboard's Job for the run, or None
        self.manager = manager    # its JobManager (stops a queued job without a folder command)
        self._status = status     # the run's status.json, as RunReader.status returns it
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

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def step(self) -> None:
        self._control.step()

    def stop(self) -> None:
        if self.job is not None:
            self.manager.stop(self.job)  # also takes a queued job off the queue
        else:
            self._control.stop()

    def set_lambda(self, value: float) -> None:
        self._control.set_lambda(value)
