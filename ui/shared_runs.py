"""One parsed copy of each run for every open tab: the run store is read once per change, not once per tab.

A classroom opens the dashboard in thirty tabs. If each tab kept its own copy of a run (its own reader,
its own DataFrame, its own chart data), thirty tabs would read and parse every new metrics row thirty
times and build every chart thirty times a second, all on the interpreter that serves the pages. So the
dashboard process holds one RunCache (ui.state.run_cache, shared like the JobManager):

    run store --(one incremental RunReader per run, under that run's lock)--> RunView snapshot
    RunView snapshot --(built once per snapshot and smoothing: RunCache.memo)--> chart specs
    every tab --> the same snapshot and the same specs

A RunView is immutable: a refresh builds a new one and swaps it in, so a tab drawing the old snapshot
never sees it change half-way. The first tab to ask after the RunWatcher saw a run's files change reads
the new rows; the tabs that ask after it get the new snapshot without reading anything.

Three rules keep the cache honest:
1. A read that raises (a damaged file, a folder removed meanwhile) leaves nothing behind: the run's
   entry is dropped, the error goes to the tab that asked, and the next tab reads the run from the top.
2. Memory stays bounded: a run nobody has viewed for EVICT_AFTER_S is dropped (viewed again, it is read
   from the top), and at most MAX_MEMO chart specs are kept, the least recently used dropped first.
3. The reader only appends what was appended. A file that was replaced or shrank (a run folder removed,
   or removed and made again under the same id) makes the run be read again from the top.
"""

import itertools
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import pandas as pd

from lfm.store import RunReader, RunSummary
from lfm.store.damage import load_columns
from lfm.store.watch import RunWatcher

FORCED_REFRESH_S = 5.0  # re-check a run even without a file event (e.g. a folder on a network share)
EVICT_AFTER_S = 600.0  # a run no tab has asked for in this long is dropped from memory
MAX_MEMO = 256  # chart specs kept: 7 charts x a few smoothings x the runs being watched, with room
APPENDED_FILES = ("metrics.csv", "gates.jsonl")  # what RunReader.read_new reads on from where it stopped

_serials = itertools.count(1)  # RunView.serial: one counter for every run, so a serial names one snapshot


@dataclass(frozen=True, eq=False)  # eq=False: a snapshot is itself (its DataFrame has no equality)
class RunView:
    """What has been read of one run, at one moment: every tab draws from the same snapshot."""

    run_id: str
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)  # every metrics.csv row read so far
    last_gates: dict | None = None  # the newest probe-gate snapshot
    events: list = field(default_factory=list)  # lambda changes
    info: dict | None = None  # num_experts, regime names, probe labels
    status: dict = field(default_factory=dict)
    serial: int = 0  # unique per snapshot, across runs: the key its derived data (chart specs) is kept by

    @property
    def num_experts(self) -> int:
        if self.info and self.info.get("num_experts"):
            return int(self.info["num_experts"])
        return len(load_columns(list(self.metrics.columns)))  # load_0, load_1, ... (not load_entropy)


class _SharedRun:
    """One run's reader and newest snapshot; its lock makes one tab read while the others wait for it."""

    def __init__(self, run_id: str, runs_dir: Path):
        self.reader = RunReader(runs_dir)  # its read_new offsets belong to this run's snapshots alone
        self.lock = threading.Lock()
        self.view = RunView(run_id)
        self.version = -1  # the watcher's version of the run when last read; -1: never read
        self.read_at = 0.0  # time.monotonic() of that read
        self.viewed_at = time.monotonic()  # the last time a tab asked for it (RunCache's eviction)
        self.marks: tuple = ()  # _marks() when last read

    def _marks(self) -> tuple:
        """(inode, size) of each file read on from where it stopped; None for a file not there."""
        folder = self.reader.path(self.view.run_id)
        marks = []
        for name in APPENDED_FILES:
            try:
                stat = os.lstat(folder / name)
                marks.append((stat.st_ino, stat.st_size))
            except FileNotFoundError:
                marks.append(None)
        return tuple(marks)

    def _only_appended(self, marks: tuple) -> bool:
        """Whether every file read so far is still there, the same file, at least as long (rule 3)."""
        return all(old is None or (new is not None and new[0] == old[0] and new[1] >= old[1])
                   for old, new in zip(self.marks, marks))

    def current(self, watcher: RunWatcher) -> RunView:
        """The newest snapshot, reading what was appended if the watcher saw the run's files change."""
        with self.lock:
            self.viewed_at = now = time.monotonic()
            version = watcher.version(self.view.run_id)  # taken before reading: a write meanwhile reads again
            if version != self.version or now - self.read_at >= FORCED_REFRESH_S:
                marks = self._marks()  # before reading: what is appended meanwhile is read next time
                if not self._only_appended(marks):
                    self.reader.reset(self.view.run_id)
                    self.view = RunView(self.view.run_id)
                self.view = self._read(self.view)
                self.version, self.read_at, self.marks = version, now, marks
            return self.view

    def _read(self, old: RunView) -> RunView:
        run_id, reader = old.run_id, self.reader
        rows, gates = reader.read_new(run_id, gates="last")
        metrics = old.metrics
        if len(rows):
            metrics = rows if metrics.empty else pd.concat([metrics, rows], ignore_index=True)
        return replace(old, metrics=metrics, last_gates=gates[-1] if gates else old.last_gates,
                       events=reader.read_events(run_id), info=old.info or reader.info(run_id),
                       status=reader.status(run_id), serial=next(_serials))


class RunCache:
    """Every watched run's snapshot, the run list, and chart specs, shared by all sessions of a dashboard."""

    def __init__(self, runs_dir: str | Path):
        self.runs_dir = Path(runs_dir)
        self._runs: dict[str, _SharedRun] = {}  # run id -> its reader and snapshot
        self._runs_lock = threading.Lock()
        self._list_reader = RunReader(self.runs_dir)
        self._list_lock = threading.Lock()
        self._list: tuple[int, list[RunSummary], float] | None = None  # (folder version, runs, monotonic)
        self._memo: OrderedDict = OrderedDict()  # key -> built value, least recently used first
        self._memo_lock = threading.Lock()

    def view(self, run_id: str, watcher: RunWatcher) -> RunView:
        """The run's newest snapshot, read (incrementally, once for every tab) if its files changed.

        A read that raises drops the run's entry before the error reaches the caller, so the next tab
        starts afresh rather than from a half-advanced reader."""
        with self._runs_lock:
            self._evict_unviewed(keep=run_id)
            shared = self._runs.get(run_id)
            if shared is None:
                shared = self._runs[run_id] = _SharedRun(run_id, self.runs_dir)
        try:
            return shared.current(watcher)
        except Exception:
            with self._runs_lock:
                if self._runs.get(run_id) is shared:
                    del self._runs[run_id]
            raise

    def cached_runs(self) -> list[str]:
        """The run ids held in memory now (for tests and diagnostics)."""
        with self._runs_lock:
            return list(self._runs)

    def _evict_unviewed(self, keep: str) -> None:
        """Drop the runs no tab has asked for in EVICT_AFTER_S (called with _runs_lock held)."""
        cutoff = time.monotonic() - EVICT_AFTER_S
        for run_id in [r for r, shared in self._runs.items() if r != keep and shared.viewed_at < cutoff]:
            del self._runs[run_id]

    def runs(self, watcher: RunWatcher) -> list[RunSummary]:
        """All runs in the store, newest first; listed again only when the watcher saw the folder change."""
        with self._list_lock:
            cached = self._list
            now = time.monotonic()
            if cached is None or cached[0] != watcher.folder_version or now - cached[2] > FORCED_REFRESH_S:
                version = watcher.folder_version  # before listing: a change during the listing lists again
                cached = self._list = (version, self._list_reader.list_runs(), now)
            return cached[1]

    def forget_runs(self) -> None:
        """List the store again at the next runs() call (e.g. right after a run was started here)."""
        with self._list_lock:
            self._list = None

    def memo(self, key: tuple, build: Callable[[], object]):
        """build()'s result, computed once per key for every tab (e.g. a chart spec per snapshot and
        smoothing); beyond MAX_MEMO entries the least recently used are dropped."""
        with self._memo_lock:  # held while building: the other tabs wait for this build, not do it again
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
            value = self._memo[key] = build()
            while len(self._memo) > MAX_MEMO:
                self._memo.popitem(last=False)
            return value
