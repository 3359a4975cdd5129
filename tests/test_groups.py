"""ui.groups: the progress bar of a sweep or lesson set, and its button that stops the group's runs."""

from streamlit.testing.v1 import AppTest

from lfm.lab.sweep import SweepProgress
from ui.groups import progress_text
from ui.text import shown

SCRIPT = '''
from types import SimpleNamespace
import streamlit as st
from lfm.lab.sweep import SweepProgress
from ui.groups import group_progress
from ui.ownership import owner_id

OWNER = st.session_state.get("owner") or owner_id()  # "owner" set by a test: another tab's session

class Manager:  # this dashboard's jobs: two of the group still active, one of another group
    def __init__(self):
        self.stopped = st.session_state.setdefault("stopped", [])
    def active(self):
        jobs = [SimpleNamespace(job_id=i, group=g, owner=OWNER)
                for i, g in ((1, "sweep-a"), (2, "sweep-b"), (3, "sweep-a"))]
        return [job for job in jobs if job.job_id not in self.stopped]
    def stop(self, job):
        self.stopped.append(job.job_id)

progress = SweepProgress("sweep-a", total=4, finished=1, running=1, queued=1, ended_badly=1)
group_progress(progress, Manager(), "sweep", key="stop")
'''


def test_the_text_counts_the_runs_by_state():
    assert progress_text(SweepProgress("g", total=3, finished=1, running=2)) == "1 of 3 runs done · 2 running · 0 queued"
    assert progress_text(SweepProgress("g", total=2, finished=1, ended_badly=1)).endswith("· 1 stopped or failed")


def test_the_button_stops_only_the_groups_runs_and_then_goes():
    at = AppTest.from_string(SCRIPT).run()
    assert not at.exception
    assert at.get("progress")[0].proto.text == "2 of 4 runs done · 1 running · 1 queued · 1 stopped or failed"
    (button,) = at.button
    assert button.label == "Stop this sweep (2 runs left)"
    button.click().run()
    assert not at.exception
    assert sorted(at.session_state["stopped"]) == [1, 3]  # sweep-b's job keeps running
    assert not at.button  # nothing of the group is left to stop


def test_another_tabs_group_can_be_watched_but_not_stopped():
    at = AppTest.from_string(SCRIPT)
    at.session_state["owner"] = "0123456789abcdef"  # the group was started by another browser session
    at.run()
    assert not at.exception
    (button,) = at.button
    assert button.disabled
    assert any("another browser tab" in c.value for c in at.caption)


PICKER = '''
import streamlit as st
from lfm.lab.sweep import SweepGroup
from ui.groups import pick_group

groups = [SweepGroup(g, 3, created) for g, created in st.session_state.get(
    "groups", [("sweep-new", "2026-01-02T10:00:00"), ("sweep-old", "2026-01-01T09:00:00")])]
st.session_state["shown"] = pick_group(groups, "Sweep", key="pick", latest="(the newest sweep)")
'''


def test_the_picker_follows_the_newest_group_until_one_is_chosen():
    at = AppTest.from_string(PICKER).run()
    assert not at.exception and at.session_state["shown"] == "sweep-new"
    assert at.selectbox(key="pick").options[0] == "(the newest sweep) sweep-new"
    at.selectbox(key="pick").set_value("sweep-old").run()
    assert at.session_state["shown"] == "sweep-old"
    # the chosen group is no longer listed (its folders were removed): the picker falls back to the newest
    at.session_state["groups"] = [("sweep-new", "2026-01-02T10:00:00")]
    at.run()
    assert not at.exception and at.session_state["shown"] == "sweep-new"


LAUNCH = '''
import streamlit as st
from ui.groups import launch_group

def submit():
    if st.session_state.get("refuse"):
        raise ValueError("lambda_entropy: [a link](http://example.com) is not a number")
    return "sweep-abc123"

launch_group(submit, "shown", "Sweep", 6, "Not launched")
'''


def test_a_launch_shows_its_group_and_a_refusal_says_why_as_text():
    at = AppTest.from_string(LAUNCH).run()
    assert not at.exception and not at.error
    assert at.session_state["shown"] == "sweep-abc123"  # the picker shows the group just launched
    assert at.toast[0].value == "Sweep sweep-abc123: 6 runs queued"

    refused = AppTest.from_string(LAUNCH)
    refused.session_state["refuse"] = True
    refused.run()
    assert not refused.exception and "shown" not in refused.session_state
    (error,) = refused.error
    assert shown(error.value) == "Not launched: lambda_entropy: [a link](http://example.com) is not a number"
    assert "\\[a link\\]" in error.value  # escaped: shown as typed, never as a link
