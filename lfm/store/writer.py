"""RunWriter: the training callback that records one run in a fresh folder of the run store.

It appends plain data to the files described in lfm/store/files.py and needs no thread of its own: a run
whose writer died is recognised by its pid (same host) or a stale heartbeat (other host) and read
interrupted (lfm/store/reader.py). A run whose folder is deleted while it trains (by hand, by a cleanup
job) has nowhere left to be recorded: the writer raises RunFolderRemoved, which ends the run as failed.
A run taken off a queue before it started is recorded too, by record_cancelled: its settings and why.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from . import provenance
from .files import (HOSTNAME, format_cell, now_iso, open_file, rounded, run_path, slugify, sync_file,
                    write_json_atomic)
from .schema import METRIC_COLUMNS, PAUSED_FLAG, RunState, load_column


class RunFolderRemoved(FileNotFoundError):
    """The run's folder vanished while the run was being written: nothing more can be recorded."""


def new_run_folder(runs_dir: str | Path, name: str | None) -> tuple[str, Path]:
    """Make a fresh, empty run folder under runs_dir; returns (run_id, path)."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    # time first so ids sort by age; random suffix so a dashboard and a CLI run started in the same
    # second never collide (mkdir without exist_ok is the arbiter)
    while True:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(name)}-{secrets.token_hex(2)}"
        path = run_path(runs_dir, run_id)
        try:
            path.mkdir()
            return run_id, path
        except FileExistsError:
            continue


def _write_config(path: Path, config: dict, name: str | None, created: str, meta: dict) -> None:
    write_json_atomic(path / "config.json", {**config, "name": name, "created": created, "meta": dict(meta)})


def record_cancelled(runs_dir: str | Path, config: dict, reason: str, *, name: str | None = None,
                     meta: dict | None = None) -> str:
    """Record a run that was taken off a queue before it started: a folder holding its config.json and a
    status.json that says "cancelled" and why. Returns its run id.

    Nothing trained, so there are no metrics, gates or checkpoint; the record is there so the run is
    not lost without a word (the Runs page and `lfm runs` list it) and its settings can be trained
    again. status.json is written first and already ended, so no reader ever sees the run as live."""
    run_id, path = new_run_folder(runs_dir, name)
    created = now_iso()
    write_json_atomic(path / "status.json", {
        "state": RunState.CANCELLED, "reason": reason, "pid": os.getpid(), "hostname": HOSTNAME,
        "started": None, "ended": created, "updated": time.time(), "step": 0, "total_steps": None})
    _write_config(path, dict(config), name, created, dict(meta or {}))  # last, as RunWriter's
    return run_id


class RunWriter:
    """Training callback that records one run in a fresh folder under runs_dir."""

    def __init__(self, runs_dir: str | Path, config: dict, *, name: str | None = None,
                 input_features: int | None = None, heartbeat_s: float = 2.0, fsync: bool = True,
                 meta: dict | None = None):
        self.config = dict(config)          # RunConfig.to_dict(); goes into config.json and the checkpoint
        self.name = name                    # user-given name, stored verbatim
        self.meta = dict(meta or {})        # labels for grouping runs, e.g. {"sweep": id}; in config.json
        self.input_features = input_features  # F of the data; None: model.input_features or token_dim
        self.heartbeat_s = heartbeat_s      # status.json is rewritten at most this often between states
        self.fsync = fsync                  # False: flush only (survives kill -9, not a power cut)
        self._lock = threading.Lock()       # log_event may come from the UI thread while training writes
        self._files: dict[str, Any] = {}    # open append handles by file name
        self._columns: list[str] | None = None  # metrics.csv header, fixed when first written
        self._step = 0                      # last logged optimizer step
        self.folder_removed = False         # set once the run folder was found deleted mid-run
        self.run_id, self.path = new_run_folder(runs_dir, name)
        created = now_iso()
        self._status = {"state": RunState.RUNNING, "reason": "", "pid": os.getpid(), "hostname": HOSTNAME,
                        "started": created, "ended": None, "updated": time.time(), "step": 0,
                        "total_steps": None}
        self._write_status()
        # config.json last: readers take a folder for a run once it exists, and status.json is there by then
        _write_config(self.path, self.config, name, created, self.meta)

    # ---- training callbacks -------------------------------------------------------------------------
    def on_train_start(self, info: dict) -> None:
        write_json_atomic(self.path / "info.json", info)
        with self._lock:
            if self._columns is None and info.get("num_experts"):
                self._write_header(int(info["num_experts"]))
            self._status["total_steps"] = info.get("total_steps")
            self._write_status()

    def on_step_end(self, record: dict) -> None:
        load = list(record.get("expert_load") or ())
        gates = {"step": record.get("step"), "probe_gates": rounded(record.get("probe_gates")),
                 "regime_matrix": rounded(record.get("regime_matrix"))}
        with self._lock:
            if not self.path.is_dir():  # files already open would take appends to a deleted folder silently
                raise self._removed()
            if self._columns is None:  # no train_start info: the first record fixes E
                self._write_header(len(load))
            num_loads = len(self._columns) - len(METRIC_COLUMNS)
            row = [record.get(c) for c in METRIC_COLUMNS] + (load + [None] * num_loads)[:num_loads]
            # gates first: a metrics row a reader can see always has its gate snapshot on disk already
            self._append("gates.jsonl", json.dumps(gates) + "\n")
            self._append("metrics.csv", ",".join(format_cell(v) for v in row) + "\n")
            self._step = int(record.get("step") or self._step)
            resumed = self._status.pop(PAUSED_FLAG, False)  # a log step means training goes on
            if resumed or time.time() - self._status["updated"] >= self.heartbeat_s:
                self._write_status()

    def on_train_end(self, result, model=None) -> None:
        """result: TrainResult (.status, .reason, .steps); model: saved to checkpoint.pt when given."""
        reason = result.reason
        if model is not None:
            try:
                features = (self.input_features or getattr(model, "input_features", None)
                            or self.config.get("hyperparameters", {}).get("token_dim"))  # as given, no default
                if features is None:
                    raise ValueError("input_features unknown")
                from .checkpoint import save_checkpoint  # torch is needed only here, once a model exists

                save_checkpoint(self.path / "checkpoint.pt", model, self.config, features, result.steps)
            except Exception as exc:  # the run's outcome matters more than its weights: still record it
                reason = "; ".join(filter(None, [reason, f"checkpoint not saved: {exc}"]))
        self._finish(result.status, reason, result.steps)

    def on_lambda_change(self, change: dict) -> None:
        """lfm.training.loop's {"step", "kind": "lambda_change", "value"} when lambda is changed mid-run."""
        self.log_event(**change)

    # ---- outside the training loop ------------------------------------------------------------------
    def record_provenance(self, facts: dict) -> None:
        """Write provenance.json: what produced this run (lfm.store.provenance.collect gives the facts)."""
        provenance.write(self.path, facts)

    def log_event(self, kind: str, **data: Any) -> dict:
        """Append a user event (e.g. kind="lambda_change", value=0.3) at the last logged step."""
        event = {"step": self._step, "time": time.time(), "kind": kind, **data}
        with self._lock:
            self._append("events.jsonl", json.dumps(event) + "\n")
        return event

    def on_paused(self) -> None:
        """lfm.training.loop calls this about once a second while a run is paused: status.json says
        "paused": true (so every view, in any process, shows the pause) and its heartbeat stays fresh."""
        with self._lock:
            self._status[PAUSED_FLAG] = True
        self.heartbeat()

    def heartbeat(self) -> None:
        """Refresh status.json's heartbeat, e.g. while paused, so other hosts don't read it as interrupted."""
        with self._lock:
            if self._status["ended"] is None:
                self._write_status()

    def fail(self, reason: str) -> None:
        """Mark the run failed (error before or around training); no-op once the run has ended."""
        if self._status["ended"] is None:
            self._finish(RunState.FAILED, reason)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._status["ended"] is None:
            if exc_type is KeyboardInterrupt:
                self._finish(RunState.STOPPED, "interrupted (Ctrl-C)")
            elif exc is not None:
                self.fail(f"{exc_type.__name__}: {exc}")
            else:
                self.fail("training ended without reporting a result")
        self.close()

    # ---- internals ----------------------------------------------------------------------------------
    def _write_header(self, num_experts: int) -> None:
        self._columns = [*METRIC_COLUMNS, *(load_column(e) for e in range(num_experts))]
        self._append("metrics.csv", ",".join(self._columns) + "\n")

    def _removed(self) -> RunFolderRemoved:
        self.folder_removed = True
        return RunFolderRemoved(f"its folder was removed ({self.path})")

    def _append(self, file_name: str, text: str) -> None:
        f = self._files.get(file_name)
        if f is None:
            try:
                f = open_file(self.path / file_name, "a", encoding="utf-8", newline="")
            except FileNotFoundError:
                raise self._removed() from None
            self._files[file_name] = f
        f.write(text)
        f.flush()
        if self.fsync:
            sync_file(f.fileno())

    def _write_status(self) -> None:
        self._status.update(updated=time.time(), step=self._step)
        try:
            write_json_atomic(self.path / "status.json", self._status)
        except FileNotFoundError:
            if self.path.is_dir():
                raise
            raise self._removed() from None

    def _finish(self, state: RunState | str, reason: str, step: int | None = None) -> None:
        with self._lock:
            self._step = self._step if step is None else int(step)
            self._status.pop(PAUSED_FLAG, None)
            self._status.update(state=RunState(state), reason=reason, ended=now_iso())
            try:
                self._write_status()
            except RunFolderRemoved:
                pass  # the run's end has no folder to be recorded in; the trainer reports it
            self.close()
