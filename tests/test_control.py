"""The control channel: commands appended to runs/<id>/control.jsonl steer a run from anywhere."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lfm.store import RunReader, RunWriter
from lfm.store.control import CONTROL_FILE, ControlError, ControlInbox, check_command, send_command
from lfm.training import TrainingControl
from lfm.training.steering import ControlListener
from support import wait_for
from tiny import TINY_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def live_run(runs_dir) -> RunWriter:
    return RunWriter(runs_dir, {"hyperparameters": {}}, name="steered", fsync=False)


def test_commands_get_increasing_sequence_numbers_and_are_read_once(tmp_path):
    writer = live_run(tmp_path)
    inbox = ControlInbox(writer.path)
    assert inbox.poll() == []
    send_command(tmp_path, writer.run_id, "pause")
    send_command(tmp_path, writer.run_id, "set_lambda", 0.25)
    first = inbox.poll()
    assert [(c.seq, c.command, c.value) for c in first] == [(1, "pause", None), (2, "set_lambda", 0.25)]
    assert inbox.poll() == []
    send_command(tmp_path, writer.run_id, "resume", source="dashboard")
    (resume,) = inbox.poll()
    assert (resume.seq, resume.command, resume.source) == (3, "resume", "dashboard")


def test_concurrent_senders_never_share_a_sequence_number(tmp_path):
    writer = live_run(tmp_path)
    threads = [threading.Thread(target=lambda: [send_command(tmp_path, writer.run_id, "step") for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [c.seq for c in ControlInbox(writer.path).poll()]
    assert seqs == list(range(1, 41))


def test_the_inbox_skips_garbage_repeats_and_half_written_lines(tmp_path):
    path = tmp_path / CONTROL_FILE
    path.write_text('{"seq": 1, "command": "pause"}\n'
                    'not json\n'
                    '{"seq": 2, "command": "fly"}\n'
                    '{"seq": 3, "command": "set_lambda", "value": "NaN"}\n'
                    '{"seq": 1, "command": "stop"}\n'        # a number already applied
                    '[1, 2]\n'
                    '{"seq": 4, "command": "resume"}\n'
                    '{"seq": 5, "command": "st')             # still being written
    inbox = ControlInbox(tmp_path)
    assert [(c.seq, c.command) for c in inbox.poll()] == [(1, "pause"), (4, "resume")]
    with open(path, "a") as f:
        f.write('op"}\n')
    assert [(c.seq, c.command) for c in inbox.poll()] == [(5, "stop")]


@pytest.mark.parametrize("command, value, message", [
    ("fly", None, "unknown command 'fly'"),
    ("pause", 1.0, "pause takes no value"),
    ("set_lambda", None, "set_lambda needs a value"),
    ("set_lambda", 1e9, "lambda_entropy"),
    ("set_lambda", float("nan"), "lambda_entropy"),
])  # fmt: skip
def test_bad_commands_are_refused_with_a_message(command, value, message):
    with pytest.raises(ControlError, match=message):
        check_command(command, value)


def test_a_run_that_has_ended_or_does_not_exist_takes_no_commands(tmp_path):
    writer = live_run(tmp_path)
    writer.fail("on purpose")
    with pytest.raises(ControlError, match="is failed: only a running run takes commands"):
        send_command(tmp_path, writer.run_id, "stop")
    with pytest.raises(ControlError, match="no run 'nope'"):
        send_command(tmp_path, "nope", "stop")
    with pytest.raises(ControlError, match="invalid run id"):
        send_command(tmp_path, "../etc", "stop")
    assert not (writer.path / CONTROL_FILE).exists()


def test_the_listener_applies_commands_to_the_training_control(tmp_path):
    writer = live_run(tmp_path)
    control = TrainingControl()
    listener = ControlListener(writer.path, control)
    send_command(tmp_path, writer.run_id, "pause")
    send_command(tmp_path, writer.run_id, "set_lambda", -0.5)
    listener.on_step_end({})
    assert control.paused and control.take_lambda() == -0.5
    send_command(tmp_path, writer.run_id, "resume")
    listener.on_paused()
    assert not control.paused
    send_command(tmp_path, writer.run_id, "stop")
    listener.on_step_end({})
    assert control.stopped and control.stop_reason == "from cli"
    assert [c.command for c in listener.applied] == ["pause", "set_lambda", "resume", "stop"]


# ---- end to end: a CLI run steered by `python -m lfm control` -----------------------------------------

def lfm_cli(*args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lfm", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_a_cli_run_is_paused_stepped_reweighted_and_stopped_from_the_command_line(tmp_path):
    runs_dir = tmp_path / "runs"
    sets = [x for k, v in {**TINY_SETTINGS, "num_epochs": 10000}.items() for x in ("--set", f"{k}={v}")]
    cli = subprocess.Popen([sys.executable, "-m", "lfm", "train", "--quiet", "--runs-dir", str(runs_dir), *sets],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    reader = RunReader(runs_dir)
    try:
        run = wait_for(lambda: next(iter(reader.list_runs()), None) or cli.poll(), 60, "the CLI run's folder")
        assert cli.poll() is None, cli.stderr.read()
        wait_for(lambda: reader.last_metrics(run.run_id), 60, "its first metrics row")
        control = ["--runs-dir", str(runs_dir)]

        out = lfm_cli("control", run.run_id, "pause", *control).stdout
        assert f"sent pause to run {run.run_id}" in out
        wait_for(lambda: reader.status(run.run_id).get("paused"), 30, "status.json to say paused")
        held = reader.last_metrics(run.run_id)["step"]

        lfm_cli("control", run.run_id, "--lambda", "0.2", *control)
        lfm_cli("control", run.run_id, "step", *control)  # one log interval (log_every = 1: one step)
        wait_for(lambda: reader.last_metrics(run.run_id)["step"] > held, 30, "the step to run")
        wait_for(lambda: reader.status(run.run_id).get("paused"), 30, "the run to pause again")
        stepped = reader.last_metrics(run.run_id)
        assert stepped["step"] == held + 1 and stepped["lambda_entropy"] == 0.2
        assert [e["value"] for e in reader.read_events(run.run_id) if e["kind"] == "lambda_change"] == [0.2]

        lfm_cli("control", run.run_id, "stop", *control)
        assert cli.wait(60) == 0, cli.stderr.read()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    status = reader.status(run.run_id)
    assert status["state"] == "stopped" and "from cli" in status["reason"] and "paused" not in status
    assert (run.path / "checkpoint.pt").is_file()

    refused = lfm_cli("control", run.run_id, "pause", *control, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"lfm: error: run {run.run_id} is stopped: only a running run takes commands"


@pytest.mark.parametrize("args, message", [
    (["control", "some-run"], "give one action (pause, resume, step, stop) or --lambda X"),
    (["control", "some-run", "pause", "--lambda", "0.1"], "give one action"),
    (["control", "some-run", "--lambda", "abc"], "lambda_entropy = \"abc\" is not a number"),
    (["control", "some-run", "jump"], "invalid choice: 'jump'"),
    (["control", "some-run", "stop"], "no run 'some-run'"),
])  # fmt: skip
def test_control_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    done = lfm_cli(*args, "--runs-dir", str(tmp_path), check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


# ---- the dashboard's buttons: in memory for its own runs, through the folder for any other --------------

def test_run_controls_steer_a_run_of_another_process_through_its_folder(tmp_path):
    from lfm.lab.controls import RunControls
    from lfm.lab.ownership import ANYONE

    writer = live_run(tmp_path)
    controls = RunControls(tmp_path, writer.run_id, RunReader(tmp_path).status(writer.run_id), steerer=ANYONE)
    assert not controls.in_memory and controls.active and controls.state == "running"
    controls.pause()
    controls.set_lambda(0.4)
    controls.stop()
    sent = [(c.command, c.value, c.source) for c in ControlInbox(writer.path).poll()]
    assert sent == [("pause", None, "a dashboard"), ("set_lambda", 0.4, "a dashboard"), ("stop", None, "a dashboard")]
    writer.on_paused()  # what the training loop calls while paused
    assert RunControls(tmp_path, writer.run_id, RunReader(tmp_path).status(writer.run_id)).state == "paused"


def test_run_controls_use_the_jobs_own_control_for_a_run_of_this_dashboard(tmp_path):
    from lfm.lab.controls import RunControls
    from lfm.lab.ownership import Steerer

    class FakeJob:
        state = "running"
        control = TrainingControl()
        owner = "a-session"

    job = FakeJob()
    controls = RunControls(tmp_path, "any-id", {}, job=job, steerer=Steerer("a-session"))
    controls.pause()
    assert job.control.paused
    controls.set_lambda(-1.0)
    assert job.control.take_lambda() == -1.0
    controls.resume()
    assert not job.control.paused
    assert not (tmp_path / "any-id").exists()  # nothing written: the fast path


def test_a_stop_right_after_a_step_is_not_undone_by_the_step_pausing_again():
    control = TrainingControl()
    control.pause()
    control.step()        # run one log interval, then pause ...
    control.stop()        # ... but a stop arrives before that log step
    control.after_log()  # the log step
    assert control.stopped and not control.paused
