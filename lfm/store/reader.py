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
from typing import NamedTuple

import pandas as pd

from lfm.config import RunSettings, settings_of

from .damage import (RunDamaged, check_config, check_event, check_experts, check_header, check_info, check_rows,
                     check_snapshot, check_status, json_records, parse_json)
from .files import (HOSTNAME, RUN_ID_RE, UnsafeFile, last_line, newest_line, open_file, parse_cell, pid_alive,
                    read_bytes, read_complete, run_path)
from .schema import METRIC_COLUMNS, RUN_LABELS, RunState


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
    damage: RunDamaged | None = None  # the first damaged file found; the fields above hold what could be read

    @cached_property
    def settings(self) -> RunSettings:
        """config typed, read without raising even from a damaged folder: settings["lambda_entropy"]."""
        return settings_of(self.config)

    @property
    def problem(self) -> str | None:
        """What makes the run unreadable, e.g. "metrics.csv: line 7 has 12 fields, the header 11"; None if
        nothing does."""
        return None if self.damage is None else str(self.damage)


class _Checked(NamedTuple):
    """How far one metrics.csv has been checked (a process-wide cache: the file only ever grows)."""
    inode: int                   # a file replaced under the same name is checked from the top again
    offset: int                  # bytes checked, always at a line's end
    line: int                    # the file's line number of the next line to check
    header: list[str] | None     # the checked column names, None before the header line
    damage: RunDamaged | None    # what the check found wrong; nothing after it is checked


_checked: dict[Path, _Checked] = {}  # metrics.csv path -> how far it was checked


class RunReader:
    """Reads runs under runs_dir, whoever writes them (this process, a CLI, another host).

    Every file is checked as it is parsed (lfm/store/damage.py): a damaged one raises RunDamaged naming
    the file and what is wrong, never a KeyError or TypeError from deep inside a page."""

    def __init__(self, runs_dir: str | Path, *, stale_after_s: float = 120.0):
        self.runs_dir = Path(runs_dir)
        self.stale_after_s = stale_after_s  # other host: heartbeat older than this means the writer is gone
        # read_new's positions per run: metrics offset, gates offset, header, metrics line number
        self._offsets: dict[str, tuple[int, int, list[str] | None, int]] = {}

    def path(self, run_id: str) -> Path:
        return run_path(self.runs_dir, run_id)

    def list_runs(self) -> list[RunSummary]:
        """Every run folder (one with config.json or status.json), newest first. A run whose files cannot
        be read is listed all the same, with its damage and whatever could be read; only a folder removed
        meanwhile, one still being created, or a link to a folder outside the store is left out."""
        if not self.runs_dir.is_dir():
            return []
        runs = []
        for entry in self.runs_dir.iterdir():
            if entry.is_dir() and RUN_ID_RE.fullmatch(entry.name) and (
                    (entry / "config.json").exists() or (entry / "status.json").exists()):
                try:
                    self.path(entry.name)
                except ValueError:  # a link to a folder outside the store: never read
                    continue
                try:
                    runs.append(self.summary(entry.name))
                except FileNotFoundError:  # removed meanwhile, or a writer between status.json and config.json
                    continue
        return sorted(runs, key=lambda r: (_timestamp(r.created), r.run_id), reverse=True)

    def summary(self, run_id: str) -> RunSummary:
        """The run's summary; each of its small files and its metrics.csv are checked, and the first damage
        found is kept in .damage (the rest is read where it can be) rather than raised.

        FileNotFoundError when the folder is gone, or has no config.json while its writer is still creating it."""
        folder = self.path(run_id)
        found: list[RunDamaged] = []
        try:
            raw = self._config_record(folder)
        except FileNotFoundError:
            if not folder.is_dir() or self._status_or_none(folder, []).get("state") == RunState.RUNNING:
                raise  # gone, or just being created: status.json comes first, config.json last
            raw, found = {}, [RunDamaged("config.json", "missing")]
        except (RunDamaged, OSError) as exc:
            raw = {}
            found.append(_as_damage(exc, "config.json"))
        status = self._status_or_none(folder, found)
        last = None
        checks = {"metrics.csv": self._check_metrics, "info.json": self._info, "events.jsonl": self._events,
                  "gates.jsonl": self._last_gates}  # gates.jsonl: its tail only, it can be large
        for file, check in checks.items():
            try:
                check(folder)
            except (RunDamaged, OSError) as exc:
                found.append(_as_damage(exc, file))
        if not any(d.file == "metrics.csv" for d in found):
            try:
                last = self._last_metrics(folder)
            except (RunDamaged, OSError) as exc:
                found.append(_as_damage(exc, "metrics.csv"))
        config = {k: v for k, v in raw.items() if k not in RUN_LABELS}
        return RunSummary(run_id, raw.get("name"), status["state"], raw.get("created"), config, last, folder,
                          status, raw.get("meta") or {}, found[0] if found else None)

    def _status_or_none(self, folder: Path, found: list[RunDamaged]) -> dict:
        """_status(), or {"state": UNKNOWN} with its damage added to found."""
        try:
            return self._status(folder)
        except (RunDamaged, OSError) as exc:
            found.append(_as_damage(exc, "status.json"))
            return {"state": RunState.UNKNOWN}

    def status(self, run_id: str) -> dict:
        """status.json with its "state" a RunState; a run recorded as running whose writer is gone reads
        INTERRUPTED (and "recorded_state" keeps RUNNING). No status.json (yet) reads UNKNOWN."""
        return self._status(self.path(run_id))

    def _status(self, folder: Path) -> dict:
        try:
            status = check_status(_json(folder, "status.json"))
        except FileNotFoundError:
            return {"state": RunState.UNKNOWN}
        state = RunState.parse(status.get("state"))
        if state == RunState.RUNNING and not self._writer_alive(status):
            return {**status, "state": RunState.INTERRUPTED, "recorded_state": state}
        return {**status, "state": state}

    def config(self, run_id: str) -> dict:
        raw = self._config_record(self.path(run_id))
        return {k: v for k, v in raw.items() if k not in RUN_LABELS}

    @staticmethod
    def _config_record(folder: Path) -> dict:
        """config.json as written: the RunConfig dict plus the RUN_LABELS."""
        return check_config(_json(folder, "config.json"))

    def info(self, run_id: str) -> dict | None:
        """info.json, checked, its num_experts agreeing with metrics.csv's load columns; None before it exists."""
        return self._info(self.path(run_id))

    @staticmethod
    def _info(folder: Path) -> dict | None:
        try:
            info = check_info(_json(folder, "info.json"))
        except FileNotFoundError:
            return None
        check_experts(info, _header(folder))
        return info

    def read_metrics(self, run_id: str) -> pd.DataFrame:
        """Every complete row of metrics.csv, checked (RunDamaged names the first bad line)."""
        data, _ = read_complete(self.path(run_id) / "metrics.csv")
        header, _, rows = data.partition(b"\n")
        if not header:
            return check_rows(b"", list(METRIC_COLUMNS), 2)
        return check_rows(rows, check_header(header), 2)

    def last_metrics(self, run_id: str) -> dict | None:
        """Last metrics row as {column: value}, reading only the head and tail of metrics.csv."""
        return self._last_metrics(self.path(run_id))

    @staticmethod
    def _last_metrics(folder: Path) -> dict | None:
        last = last_line(folder / "metrics.csv")
        if last is None or last[1]:  # no complete line, or only the header
            return None
        header = _header(folder) or []
        cells = last[0].split(b",")
        if len(cells) != len(header):
            raise RunDamaged("metrics.csv", f"its last line has {len(cells)} fields, the header {len(header)}")
        try:
            return {c: parse_cell(v.decode()) for c, v in zip(header, cells)}
        except ValueError:  # not text, or a cell that is no number
            raise RunDamaged("metrics.csv", "its last line holds something other than numbers") from None

    @staticmethod
    def _check_metrics(folder: Path) -> None:
        """Check all of metrics.csv once per process, and then only what was appended since (a cache
        shared by every reader): list_runs can then name a bad line in the middle of any run's file."""
        path = folder / "metrics.csv"
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        done = _checked.get(path)
        if done is None or done.inode != info.st_ino or done.offset > info.st_size:
            done = _Checked(info.st_ino, 0, 1, None, None)
        if done.damage is None and done.offset < info.st_size:  # only what was appended since
            data, end = read_complete(path, done.offset)
            try:
                header, line = done.header, done.line
                if header is None and data:
                    first, _, data = data.partition(b"\n")
                    header, line = check_header(first), 2
                if header is not None and data:
                    check_rows(data, header, line)
                done = _Checked(info.st_ino, end, line + data.count(b"\n"), header, None)
            except RunDamaged as exc:
                done = done._replace(damage=exc)
            _checked[path] = done
        if done.damage is not None:
            raise done.damage

    def read_new(self, run_id: str, *, gates: str = "all") -> tuple[pd.DataFrame, list[dict]]:
        """(metrics rows, gate snapshots) appended since this reader's last call for run_id, checked.

        gates="last" returns at most the newest of the new snapshots and reads only the file's tail:
        a live view needs just that, and a long run's gates.jsonl can hold tens of megabytes.
        On RunDamaged nothing is taken as read: the next call tries the same lines again."""
        path = self.path(run_id)
        metrics_at, gates_at, header, line = self._offsets.get(run_id, (0, 0, None, 1))
        data, new_metrics_at = read_complete(path / "metrics.csv", metrics_at)
        if header is None and data:
            first, _, data = data.partition(b"\n")
            header, line = check_header(first), 2
        rows = check_rows(data, header or list(METRIC_COLUMNS), line)
        if gates == "last":
            lines, gates_at = newest_line(path / "gates.jsonl", gates_at)
            snapshots = json_records(lines, "gates.jsonl", check_snapshot, first_line=None)
        else:
            lines, new_gates_at = read_complete(path / "gates.jsonl", gates_at)
            snapshots = json_records(lines, "gates.jsonl", check_snapshot, first_line=1 if gates_at == 0 else None)
            gates_at = new_gates_at
        self._offsets[run_id] = (new_metrics_at, gates_at, header, line + data.count(b"\n"))
        return rows, snapshots

    def reset(self, run_id: str | None = None) -> None:
        """Forget read_new positions (of one run, or all) so the next call starts from the top."""
        if run_id is None:
            self._offsets.clear()
        else:
            self._offsets.pop(run_id, None)

    def read_gates(self, run_id: str, last_only: bool = False) -> list[dict]:
        """All gate snapshots, or with last_only a list holding just the latest (empty before any), checked."""
        if last_only:
            return self._last_gates(self.path(run_id))
        return json_records(read_complete(self.path(run_id) / "gates.jsonl")[0], "gates.jsonl", check_snapshot)

    @staticmethod
    def _last_gates(folder: Path) -> list[dict]:
        last = last_line(folder / "gates.jsonl")
        return json_records(last[0], "gates.jsonl", check_snapshot, first_line=None) if last else []

    def read_events(self, run_id: str) -> list[dict]:
        """The user events of the run (e.g. lambda changes), each line checked."""
        return self._events(self.path(run_id))

    @staticmethod
    def _events(folder: Path) -> list[dict]:
        return json_records(read_complete(folder / "events.jsonl")[0], "events.jsonl", check_event)

    def _writer_alive(self, status: dict) -> bool:
        # same host: ask the OS about the pid (os.kill(pid, 0) would terminate the process on Windows)
        if status.get("hostname") == HOSTNAME and os.name != "nt":
            return pid_alive(status.get("pid"))
        return time.time() - float(status.get("updated") or 0) < self.stale_after_s


def _json(folder: Path, file: str):
    """The parsed JSON of one small file of a run folder (RunDamaged if it is no JSON)."""
    return parse_json(read_bytes(folder / file), file)


def _header(folder: Path) -> list[str] | None:
    """metrics.csv's checked column names; None before the header line is complete."""
    try:
        with open_file(folder / "metrics.csv", "rb") as f:
            line = f.readline()
    except FileNotFoundError:
        return None
    return check_header(line) if line.endswith(b"\n") else None


def _as_damage(exc: Exception, file: str) -> RunDamaged:
    """A reason a file cannot be read as RunDamaged: a link or a FIFO (UnsafeFile), a permission, a bad value."""
    if isinstance(exc, RunDamaged):
        return exc
    if isinstance(exc, UnsafeFile):
        return RunDamaged(file, "a link or not a plain file: the run store never reads through links")
    return RunDamaged(file, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")


def _timestamp(iso: str | None) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0
