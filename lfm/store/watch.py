"""Watch the runs folder with watchdog, so views learn which runs changed without re-reading them all.

Every file event under runs/<run_id>/ bumps that run's version counter; a new folder bumps the folder's
version. A view remembers the versions it last drew and reads (incrementally) only the runs whose
counter moved. Works the same for runs written by this process, a CLI in another terminal, or another
machine writing to a shared folder.

On a network file system (NFS, SMB, a cluster's shared storage) the OS reports only the writes made
on this machine: inotify never hears of a file another node appends to. There the watcher polls
instead (watchdog's PollingObserver: it lists and stats the folder every `poll_s` seconds). Polling is
chosen with `RunWatcher(runs_dir, poll_s=2)` or, for the dashboard, the environment variable
LFM_WATCH_POLL=<seconds> (e.g. LFM_WATCH_POLL=2); 0 or unset means the OS's events.
"""

import os
import threading
from collections import defaultdict
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

POLL_ENV = "LFM_WATCH_POLL"


def poll_interval_from_env() -> float | None:
    """LFM_WATCH_POLL as seconds between polls; None (use the OS's events) when unset or 0.
    ValueError naming the variable for anything that is not a number from 0.1 to 3600."""
    text = os.environ.get(POLL_ENV, "").strip()
    if text in ("", "0"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0.1 <= seconds <= 3600:  # also false for NaN
        raise ValueError(f"{POLL_ENV} = {text!r}: allowed 0 (the OS's file events) or seconds from 0.1 to 3600")
    return seconds


class RunWatcher(FileSystemEventHandler):
    def __init__(self, runs_dir: str | Path, *, poll_s: float | None = None):
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.poll_s = poll_s  # None: the OS's file events (inotify); seconds: poll, for network storage
        self._lock = threading.Lock()
        self._versions: dict[str, int] = defaultdict(int)
        self._folder_version = 0
        self._observer = Observer() if poll_s is None else PollingObserver(timeout=poll_s)
        self._observer.schedule(self, str(self.runs_dir), recursive=True)
        self._observer.daemon = True
        self._observer.start()

    def on_any_event(self, event) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads don't change anything
        try:
            relative = Path(event.src_path).resolve().relative_to(self.runs_dir)
        except ValueError:
            return
        if not relative.parts:
            return
        with self._lock:
            self._versions[relative.parts[0]] += 1
            if len(relative.parts) == 1 or relative.name in ("config.json", "status.json"):
                self._folder_version += 1  # a run appeared, vanished or changed state

    def version(self, run_id: str) -> int:
        """Grows whenever a file of this run changes."""
        with self._lock:
            return self._versions.get(run_id, 0)

    @property
    def folder_version(self) -> int:
        """Grows when a run folder appears or disappears, or a run's config/status changes."""
        with self._lock:
            return self._folder_version

    def stop(self) -> None:
        self._observer.stop()
