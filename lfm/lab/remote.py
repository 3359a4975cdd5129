"""Dashboard jobs that train outside the dashboard's process: on a worker process or a Ray task.

The dashboard's background thread supervises such a job: it hands the run to the backend's engine, finds
the run's folder once the worker has made it, and waits for the outcome. Steering goes through the
folder (FolderControl has the TrainingControl methods the pages call), so a remote job is paused,
stepped, re-weighted and stopped exactly like a run started from the CLI. A worker that dies takes only
its own run with it: the job ends "interrupted" and the dashboard goes on serving.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from lfm.store import RunReader
from lfm.store.control import ControlError, send_command
from lfm.store.schema import PAUSED_FLAG, RunState

from .worker import RunOutcome, RunSpec


class FolderControl:
    """TrainingControl's interface, carried out through the run folder's control.jsonl.

    Commands given before the worker has made the folder wait here and are sent once it exists (a
    stop before then also keeps the run from starting, see supervise)."""

    def __init__(self, runs_dir: str | Path, source: str = "the dashboard"):
        self.runs_dir = Path(runs_dir)
        self.source = source  # who the commands say sent them (the run's stop reason quotes it)
        self.run_id: str | None = None
        self.stop_reason = ""
        self._pending: list[tuple[str, float | None]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._reader = RunReader(runs_dir)

    def attach(self, run_id: str) -> None:
        """The worker made the run's folder: send what was asked before."""
        with self._lock:
            self.run_id = run_id
            pending, self._pending = self._pending, []
        for command, value in pending:
            self._send(command, value)

    def stop(self, reason: str = "by the user") -> None:
        self.stop_reason = reason
        self._stopped = True
        self._send("stop")

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def step(self) -> None:
        self._send("step")

    def set_lambda(self, value: float) -> None:
        self._send("set_lambda", float(value))

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def paused(self) -> bool:
        """status.json's word: the worker marks a paused run there about once a second."""
        if self.run_id is None:
            return False
        return bool(self._reader.status(self.run_id).get(PAUSED_FLAG))

    def _send(self, command: str, value: float | None = None) -> None:
        with self._lock:
            if self.run_id is None:
                self._pending.append((command, value))
                return
        try:
            send_command(self.runs_dir, self.run_id, command, value, source=self.source)
        except ControlError:
            pass  # the run ended meanwhile: nothing left to steer


def supervise(backend, spec: RunSpec, control: FolderControl, token: str, poll_s: float = 0.2) -> RunOutcome:
    """Run spec on backend and wait for its outcome, attaching control to the run folder once it exists.

    spec.meta["task"] == token identifies the folder the worker makes."""
    if control.stopped:  # stopped while it waited in the dashboard's queue: the manager records it
        return RunOutcome(None, str(RunState.CANCELLED), f"cancelled {control.stop_reason} before it started",
                          0, 0, "")
    ticket = backend.submit(spec)
    reader = RunReader(spec.runs_dir)
    while True:
        if control.run_id is None:
            found = next((s.run_id for s in reader.list_runs() if s.meta.get("task") == token), None)
            if found is not None:
                control.attach(found)
        outcome = backend.poll(ticket)
        if outcome is not None:
            if outcome.run_id is None and control.run_id is not None:
                outcome = outcome._replace(run_id=control.run_id)
            return outcome
        time.sleep(poll_s)
