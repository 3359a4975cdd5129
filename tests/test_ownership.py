"""Who may steer what on a shared dashboard (lfm/lab/ownership.py, ui/ownership.py): the browser tab that
started a run steers it, other tabs watch, the teacher's password unlocks every run in one tab, and a run
from the command line stays steerable from the command line.

Two AppTest instances are two browser sessions of one dashboard process: they share its JobManager.
"""

import hmac
import re
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from lfm.lab import ownership
from lfm.lab.controls import RunControls, stop_jobs
from lfm.lab.ownership import (ANYONE, NO_OWNER, NO_OWNER_OPEN, OTHER_TAB, THIS_TAB, UNLOCKED, WATCHER, Steerer,
                               SteeringRefused, may_steer, new_owner_id, owner_of, password_matches, steering_note)
from lfm.store import RunReader, RunWriter
from lfm.store.control import ControlInbox
from support import new_app, open_app, wait_for_runs
from tiny import TINY_CONFIG, TINY_SETTINGS
from ui import state
from ui.ownership import PASS_KEY

PASSWORD = "correct horse"
STEERING = ("Pause", "Step", "Stop", "Apply λ")
UNLOCK_OFF = "No teacher password is set"


# ---- the rule --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("steerer, owner, allowed, reason", [
    (Steerer("alice"), "alice", True, ""),                                      # the tab that started it
    (Steerer("bob"), "alice", False, OTHER_TAB),                                # another tab watches
    (Steerer("bob", teacher_configured=True), "alice", False, OTHER_TAB),
    (Steerer("bob", unlocked=True, teacher_configured=True), "alice", True, ""),  # the teacher steers all
    (Steerer("bob"), None, True, ""),                      # a CLI run on a dashboard without a password
    (Steerer("bob", teacher_configured=True), None, False, NO_OWNER),  # ... and on a shared one
    (Steerer("bob", unlocked=True, teacher_configured=True), None, True, ""),
    (WATCHER, None, False, "Not sent from a browser session: watching only."),  # no session: watch only
    (WATCHER, "alice", False, "Not sent from a browser session: watching only."),
    (ANYONE, "alice", True, ""),
])  # fmt: skip
def test_who_may_steer_which_run(steerer, owner, allowed, reason):
    assert may_steer(steerer, owner) == (allowed, reason)


@pytest.mark.parametrize("steerer, owner, note", [
    (Steerer("alice"), "alice", THIS_TAB),
    (Steerer("alice", unlocked=True, teacher_configured=True), "alice", THIS_TAB),
    (Steerer("bob"), "alice", OTHER_TAB),                                     # may_steer's own reason
    (Steerer("bob", unlocked=True, teacher_configured=True), "alice", f"Started in another browser tab: {UNLOCKED}"),
    (Steerer("bob"), None, NO_OWNER_OPEN),
    (Steerer("bob", teacher_configured=True), None, NO_OWNER),
    (Steerer("bob", unlocked=True, teacher_configured=True), None, f"Started outside this dashboard: {UNLOCKED}"),
    (WATCHER, "alice", "Not sent from a browser session: watching only."),
])  # fmt: skip
def test_the_steering_note_follows_the_rule_and_never_names_another_tabs_label(steerer, owner, note):
    said = steering_note(steerer, owner)
    assert said == note
    assert may_steer(steerer, owner).allowed == (note not in (OTHER_TAB, NO_OWNER) and steerer is not WATCHER)
    assert steerer.owner_id == owner or owner is None or owner not in said


@pytest.mark.parametrize("meta, owner", [
    ({"owner": "0123456789abcdef"}, "0123456789abcdef"),
    ({}, None), ({"group": "sweep-1"}, None), ({"owner": ""}, None),
    ({"owner": ["alice"]}, None), ({"owner": 7}, None), (["owner"], None), (None, None),  # damaged records
])  # fmt: skip
def test_the_owner_is_read_from_the_runs_meta_and_anything_unusable_is_no_owner(meta, owner):
    assert owner_of(meta) == owner


def test_owner_labels_are_random_per_session():
    labels = {new_owner_id() for _ in range(100)}
    assert len(labels) == 100 and all(re.fullmatch(r"[0-9a-f]{16}", label) for label in labels)


def test_the_teacher_password_is_compared_with_hmac_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(ownership.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert password_matches(PASSWORD, PASSWORD)
    assert not password_matches("correct hors", PASSWORD)
    assert calls == [(PASSWORD.encode(), PASSWORD.encode()), (b"correct hors", PASSWORD.encode())]
    assert password_matches("pässwörd ✓", "pässwörd ✓")  # any text: compared as UTF-8 bytes
    assert not password_matches("", "")  # no password configured is never matched


def test_the_password_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    assert ownership.password_from_env() is None
    monkeypatch.setenv(ownership.PASSWORD_ENV, "")
    assert ownership.password_from_env() is None  # empty is unset, not a password that "" matches
    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)
    assert ownership.password_from_env() == PASSWORD


class FakeSecrets(dict):
    """st.secrets as Streamlit 1.67 behaves: reading it without a usable secrets file raises
    StreamlitSecretNotFoundError (a FileNotFoundError), even through .get."""

    def __init__(self, values=None, error_id=None):
        super().__init__(values or {})
        self.error_id = error_id

    def get(self, key, default=None):
        from streamlit.errors import StreamlitSecretNotFoundError

        if self.error_id:
            raise StreamlitSecretNotFoundError("cannot read {what}", what="secrets.toml", error_id=self.error_id)
        return super().get(key, default)


@pytest.mark.parametrize("secrets, env, password, problem", [
    (FakeSecrets(error_id="no-secrets-found"), None, None, None),               # no secrets.toml: no error
    (FakeSecrets(error_id="no-secrets-found"), "from-env", "from-env", None),
    (FakeSecrets({"teacher_password": "from-file"}), "from-env", "from-file", None),  # the secret wins
    (FakeSecrets({"other": "x"}), "from-env", "from-env", None),
    (FakeSecrets({"teacher_password": ""}), None, None, None),                  # empty: none set
    (FakeSecrets(error_id="failed-parsing-secrets-file"), "from-env", "from-env", "could not be read"),
    (FakeSecrets({"teacher_password": 1234}), None, None, "not a quoted string"),
])  # fmt: skip
def test_the_teacher_password_comes_from_secrets_then_the_environment(monkeypatch, secrets, env, password, problem):
    import streamlit as st

    from ui.ownership import teacher_password

    monkeypatch.setattr(st, "secrets", secrets)
    if env is None:
        monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(ownership.PASSWORD_ENV, env)
    found = teacher_password()
    assert found.password == password
    assert (found.problem is None) if problem is None else (problem in found.problem)


# ---- RunControls refuses, whatever the page shows --------------------------------------------------------

def test_run_controls_refuse_every_command_from_a_session_that_does_not_own_the_run(tmp_path):
    writer = RunWriter(tmp_path, TINY_CONFIG.to_dict(), name="alices", fsync=False, meta={"owner": "alice"})
    status = RunReader(tmp_path).status(writer.run_id)
    inbox = ControlInbox(writer.path)
    for steerer in (Steerer("bob"), Steerer("bob", teacher_configured=True), WATCHER):
        controls = RunControls(tmp_path, writer.run_id, status, owner="alice", steerer=steerer)
        assert controls.active and not controls.permission.allowed
        for command, args in ((controls.pause, ()), (controls.resume, ()), (controls.step, ()),
                              (controls.stop, ()), (controls.set_lambda, (0.5,))):
            with pytest.raises(SteeringRefused):
                command(*args)
    assert inbox.poll() == []  # nothing reached the run
    RunControls(tmp_path, writer.run_id, status, owner="alice", steerer=Steerer("alice")).pause()
    RunControls(tmp_path, writer.run_id, status, owner="alice",
                steerer=Steerer("carol", unlocked=True, teacher_configured=True)).stop()
    assert [c.command for c in inbox.poll()] == ["pause", "stop"]


def test_a_group_is_stopped_whole_or_not_at_all():
    class Job:
        def __init__(self, owner):
            self.owner = owner

    class Manager:
        stopped = []

        def stop(self, job):
            self.stopped.append(job)

    manager, jobs = Manager(), [Job("alice"), Job("alice"), Job("bob")]
    with pytest.raises(SteeringRefused, match="another browser tab"):
        stop_jobs(manager, jobs, Steerer("alice"))
    assert manager.stopped == []
    stop_jobs(manager, jobs[:2], Steerer("alice"))
    assert manager.stopped == jobs[:2]


# ---- two browser sessions of one dashboard ---------------------------------------------------------------

def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def start_long_run(runs_dir) -> AppTest:
    """A session that pressed Start on a tiny run long enough to still be training when steered."""
    at = open_app()
    for key, value in {**TINY_SETTINGS, "num_epochs": 2000}.items():
        at.number_input(key=key).set_value(value)
    at.run()
    button(at, "Start").click().run()
    wait_for_runs(runs_dir, ("running",))
    return at


def locked(at: AppTest) -> bool:
    """Every steering control of the Train page is disabled."""
    lambda_box = next(n for n in at.number_input if n.label == "λ while training")
    return all(button(at, label).disabled for label in STEERING) and lambda_box.disabled


def unlock(at: AppTest, typed: str) -> None:
    at.text_input(key="teacher_password_typed").input(typed)
    button(at, "Unlock").click().run()


def test_the_tab_that_started_a_run_steers_it_and_another_tab_only_watches(runs_dir, monkeypatch):
    monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    first = start_long_run(runs_dir)
    first.run()
    (run,) = RunReader(runs_dir).list_runs()
    manager = state.job_manager(str(runs_dir))
    job = manager.by_run_id(run.run_id)
    assert re.fullmatch(r"[0-9a-f]{16}", run.meta["owner"]) and job.owner == run.meta["owner"]  # config.json too

    second = open_app()  # another browser tab
    assert not second.exception
    assert any("running" in m.value for m in second.markdown)  # it watches the run ...
    assert locked(second)  # ... but cannot steer it
    assert any(OTHER_TAB in c.value for c in second.caption)
    assert any(UNLOCK_OFF in c.value for c in second.sidebar.caption)  # and is told the unlock is off
    # defence in depth: a command from a session that does not own the run is refused by RunControls itself
    with pytest.raises(SteeringRefused, match="another browser tab"):
        RunControls(runs_dir, run.run_id, run.status, job=job, manager=manager, steerer=Steerer(new_owner_id())).stop()
    assert job.active

    assert not locked(first) and not any(OTHER_TAB in c.value for c in first.caption)
    button(first, "Stop").click().run()
    (run,) = wait_for_runs(runs_dir, ("stopped",))
    assert "stopped by the user" in run.status["reason"]


def test_the_teacher_password_from_secrets_unlocks_every_run_and_a_wrong_one_is_refused(runs_dir, monkeypatch):
    monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    start_long_run(runs_dir)
    teacher = new_app()
    teacher.secrets["teacher_password"] = PASSWORD
    teacher.run()
    assert locked(teacher) and not any(UNLOCK_OFF in c.value for c in teacher.sidebar.caption)

    unlock(teacher, "correct horse!")
    assert not teacher.exception
    assert any(e.value == "Wrong password: control stays locked." for e in teacher.sidebar.error)
    assert locked(teacher)

    unlock(teacher, PASSWORD)
    assert not teacher.exception and not teacher.sidebar.error
    assert any("Unlocked" in s.value for s in teacher.sidebar.success)
    assert not locked(teacher)
    button(teacher, "Stop").click().run()
    (run,) = wait_for_runs(runs_dir, ("stopped",))
    assert "stopped by the user" in run.status["reason"]

    button(teacher, "Lock again").click().run()  # and the unlock can be handed back
    assert not any("Unlocked" in s.value for s in teacher.sidebar.success)
    assert teacher.text_input(key="teacher_password_typed")


def test_a_cli_run_is_steered_from_any_tab_without_a_password_and_only_when_unlocked_with_one(runs_dir, monkeypatch):
    """Runs without an owner (the CLI's, an older dashboard's): steered by every tab of a dashboard that has no
    teacher password (a personal one), by an unlocked teacher on one that has (a shared one), and always by
    `lfm control` from the command line."""
    cli_run = RunWriter(runs_dir, TINY_CONFIG.to_dict(), name="from-the-cli", fsync=False)  # live: this pid
    inbox = ControlInbox(cli_run.path)
    monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    at = open_app()  # no secrets.toml anywhere: no error either
    assert not at.exception and not locked(at)
    assert any(UNLOCK_OFF in c.value for c in at.sidebar.caption)
    button(at, "Pause").click().run()
    assert [c.command for c in inbox.poll()] == ["pause"]

    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)  # the dashboard is shared now
    at = open_app()
    assert locked(at) and any(NO_OWNER in c.value for c in at.caption)
    done = subprocess.run([sys.executable, "-m", "lfm", "control", cli_run.run_id, "step", "--runs-dir", str(runs_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [(c.command, c.source) for c in inbox.poll()] == [("step", "cli")]  # the CLI steers as before

    unlock(at, PASSWORD)
    assert not locked(at)
    button(at, "Stop").click().run()
    assert [c.command for c in inbox.poll()] == ["stop"]
    cli_run.close()


def test_a_sweep_is_stopped_only_from_the_tab_that_launched_it_or_by_the_teacher(runs_dir, monkeypatch):
    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)
    first = open_app("pages/sweep.py")
    for key, value in {**TINY_SETTINGS, "num_epochs": 2000}.items():
        first.number_input(key=key).set_value(value)
    first.number_input(key="sweep_low").set_value(0.1)
    first.number_input(key="sweep_high").set_value(0.1)
    first.number_input(key="sweep_n").set_value(1)
    first.text_input(key="sweep_seeds").set_value("0")
    first.run()
    assert not first.error, [e.value for e in first.error]
    button(first, "Launch").click().run()
    (run,) = wait_for_runs(runs_dir, ("running",))
    first.run()
    stop = "Stop this sweep (1 runs left)"
    assert not button(first, stop).disabled

    second = open_app("pages/sweep.py")
    assert button(second, stop).disabled and any(OTHER_TAB in c.value for c in second.caption)
    job = state.job_manager(str(runs_dir)).by_run_id(run.run_id)
    assert job.owner == run.meta["owner"] and job.group == run.meta["group"]
    unlock(second, PASSWORD)
    assert not button(second, stop).disabled

    button(first, stop).click().run()
    wait_for_runs(runs_dir, ("stopped",))


def test_a_lesson_set_is_stopped_only_by_its_own_tab_or_the_teacher(runs_dir, monkeypatch):
    """A set started in another tab (here: submitted with another session's label): Stop greyed out until unlocked."""
    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)
    manager = state.job_manager(str(runs_dir))
    job = manager.submit(TINY_CONFIG.with_overrides({"num_epochs": 2000}), name="lessons-0a0b0c sharpen seed0",
                         group="lessons-0a0b0c", owner=new_owner_id())
    wait_for_runs(runs_dir, ("running",))
    at = open_app("pages/lessons.py")
    stop = "Stop this lesson set (1 runs left)"
    assert button(at, stop).disabled and any(OTHER_TAB in c.value for c in at.caption)
    unlock(at, PASSWORD)
    assert not button(at, stop).disabled
    button(at, stop).click().run()
    assert not at.exception
    assert manager.wait(job, timeout=60) and job.state == "stopped"


def test_a_click_that_arrives_after_the_unlock_ended_stops_nothing(runs_dir, monkeypatch):
    """The Stop was drawn enabled (the teacher had unlocked); the password has since been taken away, so the
    unlock no longer counts. The click arrives all the same: the rerun draws Stop disabled, and Streamlit
    (1.67) discards a value sent for a disabled widget; were it ever delivered, RunControls would refuse it
    (test_run_controls_refuse_every_command_from_a_session_that_does_not_own_the_run)."""
    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)
    owner = start_long_run(runs_dir)
    teacher = open_app()
    unlock(teacher, PASSWORD)
    assert not locked(teacher)
    monkeypatch.delenv(ownership.PASSWORD_ENV)
    button(teacher, "Stop").click().run()
    assert not teacher.exception
    assert locked(teacher) and any(OTHER_TAB in c.value for c in teacher.caption)
    (run,) = RunReader(runs_dir).list_runs()
    job = state.job_manager(str(runs_dir)).by_run_id(run.run_id)
    assert job.active and not job.control.stopped  # still training
    owner.run()
    button(owner, "Stop").click().run()
    wait_for_runs(runs_dir, ("stopped",))


def page_text(at: AppTest) -> str:
    """Everything the Runs page shows as text: captions, Markdown, alerts, the picker's options and the table."""
    shown = [e.value for kind in (at.caption, at.markdown, at.info, at.warning, at.error) for e in kind]
    shown += [o for box in at.selectbox for o in box.options]
    return "\n".join(shown + [df.value.to_string() for df in at.dataframe])


def test_runs_says_who_may_steer_the_selected_run_and_never_shows_another_tabs_label(runs_dir, monkeypatch):
    """Runs, under its picker: "this tab" for the tab that started the run, "another tab" for every other
    tab (never that tab's owner label), and for a command-line run whether any tab may steer it."""
    monkeypatch.delenv(ownership.PASSWORD_ENV, raising=False)
    first = open_app()
    label = first.session_state[PASS_KEY].owner_id
    mine = RunWriter(runs_dir, TINY_CONFIG.to_dict(), name="from-the-first-tab", fsync=False,
                     meta={ownership.OWNER_KEY: label})  # as the JobManager records a run started in that tab
    cli = RunWriter(runs_dir, TINY_CONFIG.to_dict(), name="from-the-cli", fsync=False)
    mine.close(), cli.close()

    def note(at: AppTest, run_id: str) -> str:
        at.selectbox(key="runs_page_run").set_value(run_id).run()
        assert not at.exception
        return next(c.value for c in at.caption if c.value.startswith(":material/person:"))

    first.switch_page("pages/runs.py").run()
    assert THIS_TAB in note(first, mine.run_id)
    second = open_app("pages/runs.py")  # another browser tab
    assert OTHER_TAB in note(second, mine.run_id)
    assert label not in page_text(second) and label != second.session_state[PASS_KEY].owner_id
    assert NO_OWNER_OPEN in note(second, cli.run_id)  # no teacher password: any tab steers a CLI run
    monkeypatch.setenv(ownership.PASSWORD_ENV, PASSWORD)  # a shared dashboard now
    assert NO_OWNER in note(second, cli.run_id) and THIS_TAB in note(first, mine.run_id)
