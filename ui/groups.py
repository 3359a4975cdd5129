"""A group of runs on a page (a sweep, a lesson set): choosing which one to show, and following it.

Sweep λ and Lessons both queue a group of runs through the dashboard's JobManager and follow it live;
a group is nothing but runs sharing a group id in the store (lfm.lab.sweep), so any past one can be
shown again. This draws the two parts the pages share:
  launch_group    queue a group from the page's button, show it in the picker, or say why it was refused;
  pick_group      a picker of the groups in the store, led by an entry that always follows the newest;
  group_progress  one progress bar counting the group's runs by state (lfm.lab.sweep.SweepProgress), and,
                  while this dashboard still has runs of the group queued or training, a button that
                  stops them all, for the tab that started them or an unlocked teacher (ui.ownership).
                  Runs started by another process (the CLI) are counted but cannot be stopped from
                  here: the button offers only this manager's jobs.
"""

from typing import Callable

import streamlit as st

from lfm.data import DataError
from ui.live import forget_run_list
from ui.ownership import stop_group_button
from ui.text import plain


def launch_group(submit: Callable[[], str], key: str, what: str, runs: int, refused: str) -> None:
    """Queue a group with submit() (e.g. lfm.lab.sweep.submit_sweep bound to its arguments; returns the
    group id) and show it: the picker at `key` (pick_group's) is set to it and a toast says '<what> <id>:
    <runs> runs queued'. Settings or data the run cannot use are refused with '<refused>: <why>'."""
    try:
        group = submit()
    except (DataError, ValueError) as exc:
        st.error(f"{refused}: {plain(exc)}")  # it may quote what was typed
        return
    st.session_state[key] = group
    forget_run_list()  # the first runs' folders exist now: list them at once
    st.toast(f"{what} {group}: {runs} runs queued")


def pick_group(groups, label: str, key: str, latest: str) -> str:
    """The id of the group to show: a selectbox of groups (lfm.lab.sweep.sweep_groups, newest first) whose
    first entry, `latest`, follows the newest group as new ones start. key: the selectbox's session key; a
    page may set it to a group id (e.g. the one it just launched)."""
    names = {g.group: f"{g.group} · started {(g.created or 'just now')[:19].replace('T', ' ')}" for g in groups}
    if st.session_state.get(key) not in (latest, *names):
        st.session_state.pop(key, None)  # e.g. a group started in another tab and not listed yet
    choice = st.selectbox(label, [latest, *names], key=key,
                          format_func=lambda g: f"{latest} {groups[0].group}" if g == latest else names[g])
    return groups[0].group if choice == latest else choice


def progress_text(progress) -> str:
    """'3 of 6 runs done · 2 running · 1 queued', with '· 1 stopped or failed' when any ended badly."""
    parts = [f"{progress.done} of {progress.total} runs done", f"{progress.running} running",
             f"{progress.queued} queued"]
    if progress.ended_badly:
        parts.append(f"{progress.ended_badly} stopped or failed")
    return " · ".join(parts)


def group_progress(progress, manager, what: str, key: str) -> None:
    """The progress bar of a group, and 'Stop this <what> (n runs left)' while manager has runs of it.

    progress: lfm.lab.sweep.sweep_progress(...) of the group; manager: the page's lfm.lab.jobs.JobManager;
    key: the button's widget key, one per page."""
    st.progress(progress.fraction, text=progress_text(progress))
    stop_group_button(manager, progress.group, what, key=key)
