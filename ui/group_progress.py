"""How far a group of runs has got (a sweep, a lesson set), and a button that stops the rest of it.

Sweep λ and Lessons both queue a group of runs through the dashboard's JobManager and follow it live;
this draws their common head: one progress bar counting the group's runs by state
(lfm.lab.sweep.SweepProgress), and, while this dashboard still has runs of the group queued or
training, a button that stops them all. Runs started by another process (the CLI) are counted but
cannot be stopped from here: the button offers only this manager's jobs.
"""

import streamlit as st


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
    mine = [job for job in manager.active() if job.group == progress.group]
    if mine and st.button(f"Stop this {what} ({len(mine)} runs left)", icon=":material/stop:", key=key):
        for job in mine:
            manager.stop(job)
        st.rerun()
