"""Process-wide and per-session state of the dashboard: where runs live, the job manager, the watcher.

One JobManager, one RunWatcher and one RunCache (the parsed runs and their chart specs, ui.shared_runs)
serve every browser tab (st.cache_resource, global scope), so a reload or a second tab sees the same
runs, read once for all of them. Each session gets its own RunReader (for what it reads itself: status,
exports) and registers itself with the manager while it is open: when every tab is closed, runs not
marked "keep training" are stopped after a grace period.
"""

import os
import uuid
from pathlib import Path

import streamlit as st

from lfm.lab.jobs import JobManager
from lfm.lab.priority import DEFAULT_NICE, train_nice_from_env
from lfm.store import RunReader
from lfm.store.watch import RunWatcher, poll_interval_from_env
from ui.shared_runs import RunCache


def runs_dir() -> Path:
    """The run store: $LFM_RUNS_DIR, or ./runs (where `python -m lfm train` writes by default)."""
    return Path(os.environ.get("LFM_RUNS_DIR", "runs")).resolve()


def train_nice() -> tuple[int, str | None]:
    """The CPU priority the dashboard trains at (lfm.lab.priority), and what is wrong with LFM_TRAIN_NICE
    if it is set badly (the default priority is used then)."""
    try:
        return train_nice_from_env(), None
    except ValueError as exc:
        return DEFAULT_NICE, f"{exc}. Training at nice {DEFAULT_NICE}, the default."


@st.cache_resource(show_spinner=False)
def job_manager(folder: str | None = None) -> JobManager:
    grace = float(os.environ.get("LFM_ORPHAN_GRACE_S", "30"))
    cap = int(os.environ.get("LFM_MAX_CONCURRENT", "0")) or None
    manager = JobManager(folder or runs_dir(), max_concurrent=cap, orphan_grace_s=grace, train_nice=train_nice()[0])
    manager.close_at_exit()  # stopping the dashboard stops and saves its runs
    return manager


def default_backend() -> str:
    """Where the dashboard trains a run unless the user picks otherwise: $LFM_BACKEND (thread, process
    or ray), else thread."""
    return os.environ.get("LFM_BACKEND", "thread").strip() or "thread"


@st.cache_resource(show_spinner=False)
def run_watcher(folder: str | None = None) -> RunWatcher:
    """The runs folder's watcher: the OS's file events, or polling where LFM_WATCH_POLL says so
    (network storage, where the OS hears nothing of other machines' writes)."""
    return RunWatcher(folder or runs_dir(), poll_s=poll_interval_from_env())


@st.cache_resource(show_spinner=False)
def _run_cache(folder: str) -> RunCache:
    return RunCache(folder)


def run_cache(folder: str | Path | None = None) -> RunCache:
    """The parsed runs every tab draws from (ui.shared_runs): read once per change, not once per tab."""
    return _run_cache(str(Path(folder).resolve()) if folder is not None else str(runs_dir()))


def _release_session(session: dict) -> None:
    session["manager"].detach(session["id"])


@st.cache_resource(scope="session", on_release=_release_session, show_spinner=False)
def _session(folder: str) -> dict:
    """Created once per browser session; released (detaching it) when the session ends."""
    manager = job_manager(folder)
    session = {"id": uuid.uuid4().hex, "manager": manager}
    manager.attach(session["id"])
    return session


def manager() -> JobManager:
    """The shared job manager, with this session registered as watching."""
    folder = str(runs_dir())
    _session(folder)
    problem = train_nice()[1]
    if problem:
        st.warning(problem, icon=":material/warning:")
    return job_manager(folder)


def watcher() -> RunWatcher:
    return run_watcher(str(runs_dir()))


def reader() -> RunReader:
    """This session's reader of the run store (it remembers what it has already read)."""
    folder = str(runs_dir())
    if st.session_state.get("_reader_dir") != folder:
        st.session_state["_reader"] = RunReader(folder)
        st.session_state["_reader_dir"] = folder
    return st.session_state["_reader"]
