"""RunReader: lists the runs of a run store and reads them, incrementally for live views.

It reads whatever wrote the run (this process, a CLI, another host) and only ever parses complete
lines. A run recorded as running whose writer is gone reads RunState.INTERRUPTED.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from pathlib import Path

import pandas as pd

from lfm.config import RunSettings, settings_of

from .files import (HOSTNAME, RUN_ID_RE, csv_frame, json_lines, last_line, newest_line, open_file, parse_cell,
                    pid_alive, read_complete, read_json, run_path)
from .schema import RUN_LABELS, RunState


@dataclass
class RunSummary:
    run_id: str                  # folder name under runs/
    name: str | None             # user-given name, verbatim
    state: RunState              # status.json's state, or INTERRUPTED when its writer is gone
    created: str | None          # ISO time the run folder was made (local time with UTC offset)
    config: dict                 # RunConfig dict (config.json without name/created)
    last_metrics: dict | None    # last metrics.csv row (column -> value), None before the first log step
    path: Path                   # the run folder
    status: dict                 # status.json, with "state" as above
    meta: dict = field(default_factory=dict)  # grouping labels given to the writer, e.g. a sweep id

    @cached_property
    def settings(self) -> RunSettings:
        """config typed, read without raising even from a damaged folder: settings["lambda_entropy"]."""
        return settings_of(self.config)


class RunReader:
    """Reads runs under runs_dir, whoever writes them (this process, a CLI, another host)."""

    def __init__(self, runs_dir: str | Path, *, stale_after_s: float = 120.0):
        self.runs_dir = Path(runs_dir)
        self.stale_after_s = stale_after_s  # other host: heartbeat older than this means the writer is gone
        self._offsets: dict[str, tuple[int, int, list[str] | None]] = {}  # read_new: metrics, gates, header

    def path(self, run_id: str) -> Path:
        return run_path(self.runs_dir, run_id)

    def list_runs(self) -> list[RunSummary]:
        """Every run folder, newest first; folders that are not (complete) runs are skipped."""
        if not self.runs_dir.is_dir():
            return []
        runs = []
        for entry in self.runs_dir.iterdir():
            if entry.is_dir() and RUN_ID_RE.fullmatch(entry.name) and (entry / "config.json").is_file():
                try:
                    runs.append(self.summary(entry.name))
                except (OSError, ValueError):  # damaged, or removed meanwhile: nothing to show
                    continue
        return sorted(runs, key=lambda r: (_timestamp(r.created), r.run_id), reverse=True)

    def summary(self, run_id: str) -> RunSummary:
        path = self.path(run_id)
        raw = read_json(path / "config.json")
        status = self.status(run_id)
        config = {k: v for k, v in raw.items() if k not in RUN_LABELS}
        return RunSummary(run_id, raw.get("name"), status["state"], raw.get("created"), config,
                          self.last_metrics(run_id), path, status, raw.get("meta") or {})

    def status(self, run_id: str) -> dict:
        """status.json with its "state" a RunState; a run recorded as running whose writer is gone reads
        INTERRUPTED (and "recorded_state" keeps RUNNING). No status.json (yet) reads UNKNOWN."""
        try:
            status = read_json(self.path(run_id) / "status.json")
        except FileNotFoundError:
            return {"state": RunState.UNKNOWN}
        state = RunState.parse(status.get("state"))
        if state == RunState.RUNNING and not self._writer_alive(status):
            return {**status, "state": RunState.INTERRUPTED, "recorded_state": state}
        return {**status, "state": state}

    def config(self, run_id: str) -> dict:
        raw = read_json(self.path(run_id) / "config.json")
        return {k: v for k, v in raw.items() if k not in RUN_LABELS}

    def info(self, run_id: str) -> dict | None:
        try:
            return read_json(self.path(run_id) / "info.json")
        except FileNotFoundError:
            return None

    def read_metrics(self, run_id: str) -> pd.DataFrame:
        data, _ = read_complete(self.path(run_id) / "metrics.csv")
        header, _, rows = data.partition(b"\n")
        return csv_frame(rows, header.decode().split(",") if header else None)

    def last_metrics(self, run_id: str) -> dict | None:
        """Last metrics row as {column: value}, reading only the head and tail of metrics.csv."""
        path = self.path(run_id) / "metrics.csv"
        last = last_line(path)
        if last is None or last[1]:  # no complete line, or only the header
            return None
        with open_file(path, "rb") as f:
            header = f.readline().decode().strip().split(",")
        return {c: parse_cell(v) for c, v in zip(header, last[0].decode().split(","))}

    def read_new(self, run_id: str, *, gates: str = "all") -> tuple[pd.DataFrame, list[dict]]:
        """(metrics rows, gate snapshots) appended since this reader's last call for run_id.

        gates="last" returns at most the newest of the new snapshots and reads only the file's tail:
        a live view needs just that, and a long run's gates.jsonl can hold tens of megabytes."""
        path = self.path(run_id)
        metrics_at, gates_at, header = self._offsets.get(run_id, (0, 0, None))
        data, metrics_at = read_complete(path / "metrics.csv", metrics_at)
        if header is None and data:
            first, _, data = data.partition(b"\n")
            header = first.decode().split(",")
        if gates == "last":
            snapshots, gates_at = newest_line(path / "gates.jsonl", gates_at)
        else:
            lines, gates_at = read_complete(path / "gates.jsonl", gates_at)
            snapshots = json_lines(lines)
        self._offsets[run_id] = (metrics_at, gates_at, header)
        return csv_frame(data, header), snapshots

    def reset(self, run_id: str | None = None) -> None:
        """Forget read_new positions (of one run, or all) so the next call starts from the top."""
        if run_id is None:
            self._offsets.clear()
        else:
            self._offsets.pop(run_id, None)

    def read_gates(self, run_id: str, last_only: bool = False) -> list[dict]:
        """All gate snapshots, or with last_only a list holding just the latest (empty before any)."""
        path = self.path(run_id) / "gates.jsonl"
        if last_only:
            last = last_line(path)
            return json_lines(last[0]) if last else []
        return json_lines(read_complete(path)[0])

    def read_events(self, run_id: str) -> list[dict]:
        return json_lines(read_complete(self.path(run_id) / "events.jsonl")[0])

    def _writer_alive(self, status: dict) -> bool:
        # same host: ask the OS about the pid (os.kill(pid, 0) would terminate the process on Windows)
        if status.get("hostname") == HOSTNAME and os.name != "nt":
            return pid_alive(status.get("pid"))
        return time.time() - float(status.get("updated") or 0) < self.stale_after_s


def _timestamp(iso: str | None) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0
