"""A damaged run on a page: a warning that names the run and the file, never an exception.

lfm.store's readers raise RunDamaged("metrics.csv", "line 7 has 12 fields, the header 11") for a file
that cannot be read as what it should hold, and refuse a link or a FIFO planted in a run folder
(UnsafeFile). A page reads a run inside `with guarded(run_id):`; what the block could not draw is then
replaced by a warning, and the rest of the page goes on. The file's text is shown as text (ui.text.plain).
"""
from contextlib import contextmanager

import streamlit as st

from lfm.store.damage import RunDamaged
from lfm.store.files import UnsafeFile
from ui.text import plain

UNREADABLE = "unreadable"  # how the Runs table and every warning call a damaged run
PICKER_MARK = f"⚠ {UNREADABLE} · "  # before a damaged run's label in every run picker (plain text: no Markdown)


def unreadable(problem: object) -> str:
    """"unreadable: metrics.csv: line 7 has 12 fields, the header 11" (plain text, for a table cell)."""
    return f"{UNREADABLE}: {problem}"


def picker_label(summary, label: str) -> str:
    """label, a run's line in a picker (selectbox or multiselect), marked when the run cannot be read in full.

    A damaged run stays pickable, so what can be read of it is shown; the mark says so before it is picked.
    Option labels are drawn as plain text, so a name needs no escaping here."""
    return PICKER_MARK + label if summary.problem else label


def warn(run_id: str, problem: object) -> None:
    """A warning naming the run and what is wrong with which of its files."""
    st.warning(f"Run {plain(run_id)} is {plain(unreadable(problem))}. What could be read is shown.",
               icon=":material/broken_image:")


def warn_damaged(summaries, limit: int = 5) -> None:
    """One warning listing the damaged runs among summaries (RunSummary objects), at most `limit` by name."""
    damaged = [s for s in summaries if s.problem]
    if not damaged:
        return
    lines = [f"- {plain(s.name or s.run_id)} ({plain(s.run_id)}): {plain(unreadable(s.problem))}" for s in damaged[:limit]]
    if len(damaged) > limit:
        lines.append(f"- and {len(damaged) - limit} more (see **Runs**)")
    st.warning(f"{len(damaged)} run(s) cannot be read in full and are left out of the numbers:\n" + "\n".join(lines),
               icon=":material/broken_image:")


@contextmanager
def guarded(run_id: str):
    """Run the block; a damaged or refused file of the run ends it with a warning instead of an exception."""
    try:
        yield
    except (RunDamaged, UnsafeFile) as exc:
        warn(run_id, exc)
