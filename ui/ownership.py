"""This browser session's side of run ownership: its owner label, the teacher unlock, and a group's Stop button.

Who may steer what is decided in lfm/lab/ownership.py; what a page needs from the session is here:
  * steerer(): who this session is — its owner label, drawn once per session and kept on the server
    (a SessionPass in st.session_state, which no browser can write: see _session_pass), and whether the
    teacher password was given in it;
  * teacher_unlock(): the sidebar's "Teacher control" expander — a password field, checked by
    lfm.lab.ownership.password_matches (hmac.compare_digest) — or a note that no password is set;
  * steer(): send one command of RunControls, saying a refusal on the page;
  * stop_group_button(): the Stop of a sweep or a lesson set, enabled for the session that started it.

Why a label of our own rather than Streamlit's session id (get_script_run_ctx().session_id): a browser
presents that id to reconnect to its session (streamlit/runtime/websocket_session_manager.py), so it must
not be written into run folders that others read; and AppTest gives every instance the same one, so two
test sessions could not be told apart.

The teacher password is Streamlit's secret "teacher_password" (.streamlit/secrets.toml), else
$LFM_TEACHER_PASSWORD; with neither, the unlock is off: a run started here is steered by its own tab only.
"""

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import streamlit as st

from lfm.lab.controls import stop_jobs
from lfm.lab.ownership import (PASSWORD_ENV, Steerer, SteeringRefused, may_steer, new_owner_id, password_from_env,
                               password_matches)
from ui.text import plain

SECRET_KEY = "teacher_password"  # its name in .streamlit/secrets.toml
PASS_KEY = "_session_pass"  # st.session_state key of this session's SessionPass (no widget has it)
WRONG_PASSWORD_DELAY_S = 1.0  # each wrong guess costs its session a second: no quick guessing through the page


class TeacherPassword(NamedTuple):
    password: str | None  # None: no password configured (the unlock is off)
    problem: str | None  # what is wrong with the secrets file, when it exists but cannot be used


def teacher_password() -> TeacherPassword:
    """The configured teacher password: the secret first, then the environment. A missing secrets.toml is
    no error (Streamlit raises one on reading st.secrets without a file); an unreadable one is reported."""
    value, problem = None, None
    try:
        value = st.secrets.get(SECRET_KEY)
    except FileNotFoundError as exc:  # Streamlit's StreamlitSecretNotFoundError: no file, or one it cannot parse
        if getattr(exc, "error_id", "no-secrets-found") != "no-secrets-found":
            problem = f"The secrets file could not be read, so its {SECRET_KEY} is ignored: {exc}"
    if value is not None and not isinstance(value, str):
        value, problem = None, f"{SECRET_KEY} in secrets.toml is not a quoted string, so it is ignored."
    return TeacherPassword(value or password_from_env(), problem)


@dataclass
class SessionPass:
    """What this browser session may do: its owner label and whether its teacher unlocked control."""
    owner_id: str = field(default_factory=new_owner_id)
    unlocked: bool = False


def _session_pass() -> SessionPass:
    """This session's pass, created on its first page. It is an object in st.session_state under a key no
    widget has: a browser sends only widget values, and Streamlit ignores a value for a widget the script
    never declared, so no browser can set or change it."""
    if not isinstance(st.session_state.get(PASS_KEY), SessionPass):
        st.session_state[PASS_KEY] = SessionPass()
    return st.session_state[PASS_KEY]


def owner_id() -> str:
    """This session's owner label: what a run started here records as its owner."""
    return _session_pass().owner_id


def steerer() -> Steerer:
    """Who this session is, for lfm.lab.ownership.may_steer. An unlock counts only while a password is set."""
    session = _session_pass()
    configured = teacher_password().password is not None
    return Steerer(session.owner_id, unlocked=configured and session.unlocked, teacher_configured=configured)


def teacher_unlock() -> None:
    """The sidebar's "Teacher control": give the teacher password to steer every run from this tab, or lock
    it again. Called before a page decides which buttons to enable, so an unlock counts on the same run."""
    source, session = teacher_password(), _session_pass()
    with st.sidebar.expander("Teacher control", icon=":material/admin_panel_settings:"):
        if source.problem:
            st.warning(plain(source.problem))
        if source.password is None:
            st.caption("No teacher password is set, so the teacher unlock is off: a run started here is steered "
                       "only from the browser tab that started it, and a command-line run from any tab. To "
                       f"share this dashboard with a class, set {PASSWORD_ENV} or {SECRET_KEY} in "
                       ".streamlit/secrets.toml (README, \"Shared dashboards\").")
            return
        if session.unlocked:
            st.success("Unlocked: this tab steers every run.", icon=":material/lock_open:")
            if st.button("Lock again", icon=":material/lock:", key="teacher_lock"):
                session.unlocked = False
                st.rerun()
            return
        st.caption("A run is steered only from the browser tab that started it; other tabs watch. The teacher "
                   "password unlocks every run's controls in this tab.")
        with st.form("teacher_unlock", clear_on_submit=True, border=False):  # the typed password is not kept
            typed = st.text_input("Teacher password", type="password", key="teacher_password_typed")
            if st.form_submit_button("Unlock", icon=":material/lock_open:"):
                if password_matches(typed, source.password):
                    session.unlocked = True
                    st.rerun()
                time.sleep(WRONG_PASSWORD_DELAY_S)
                st.error("Wrong password: control stays locked.")


def steer(command, *args) -> bool:
    """Send one command of RunControls (e.g. steer(controls.stop)); True if it was sent. One refused all
    the same — RunControls checks again, e.g. after the unlock was taken back on another run of the page —
    is said on the page rather than raised."""
    try:
        command(*args)
        return True
    except SteeringRefused as exc:
        st.error(str(exc))
        return False


def stop_group_button(manager, group: str, noun: str, key: str) -> None:
    """"Stop this <noun>" for the dashboard's live jobs of one group (a sweep, a lesson set): enabled for
    the session that started them or an unlocked teacher, else disabled with the reason under it."""
    jobs = [job for job in manager.active() if job.group == group]
    if not jobs:
        return
    who = steerer()
    refused = [permission for permission in (may_steer(who, job.owner) for job in jobs) if not permission.allowed]
    if st.button(f"Stop this {noun} ({len(jobs)} runs left)", icon=":material/stop:", key=key, disabled=bool(refused)):
        try:
            stop_jobs(manager, jobs, who)
        except SteeringRefused as exc:  # e.g. the unlock was taken back in another run of this page
            st.error(str(exc))
        else:
            st.rerun()
    if refused:
        st.caption(f":material/lock: {refused[0].reason}")
