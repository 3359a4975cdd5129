"""Steering a run through its folder: runs/<run_id>/control.jsonl, one command per line.

Whoever can see the run store can steer any live run in it — a dashboard tab, `python -m lfm control`
in another terminal, a process on another host sharing the folder — whatever trains it (a thread of the
dashboard, a CLI, a worker process, a Ray task). A sender appends a line

    {"seq": 3, "command": "set_lambda", "value": 0.3, "time": 1764535261.2, "source": "cli"}

and the training side (lfm/training/steering.py) reads the lines it has not seen at each log step and
about once a second while paused. Sequence numbers count the file's lines from 1; they are assigned
under an exclusive lock on the file, so two senders never share one, and a reader skips any line whose
number it has already applied (a line read twice is applied once).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import NamedTuple

from .files import open_file, read_complete, run_path
from .reader import RunReader
from .schema import RunState

try:  # POSIX: an advisory lock serialises the senders' "count, then append"
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends stay whole lines, seq may repeat
    fcntl = None

CONTROL_FILE = "control.jsonl"
COMMANDS = ("pause", "resume", "step", "stop", "set_lambda")  # set_lambda needs a value


class ControlError(ValueError):
    """A command that cannot be sent: unknown command, bad value, or a run that takes no commands."""


class Command(NamedTuple):
    seq: int                # 1 for the file's first line, then +1 per line
    command: str            # one of COMMANDS
    value: float | None     # the new lambda for set_lambda, else None
    time: float             # when it was sent (seconds since the epoch)
    source: str             # who sent it, for the run's record: "cli", "dashboard", ...


def check_command(command: str, value: float | None = None) -> float | None:
    """The command's value, validated; ControlError with a one-line message otherwise."""
    if command not in COMMANDS:
        raise ControlError(f"unknown command {command!r}: expected one of {', '.join(COMMANDS)}")
    if command != "set_lambda":
        if value is not None:
            raise ControlError(f"{command} takes no value")
        return None
    from lfm.config import ConfigError, check_value  # the setting's own validator and range

    if value is None:
        raise ControlError("set_lambda needs a value")
    try:
        return float(check_value("lambda_entropy", value))
    except ConfigError as exc:
        raise ControlError(str(exc)) from None


def send_command(runs_dir: str | Path, run_id: str, command: str, value: float | None = None, *,
                 source: str = "cli") -> Command:
    """Append a command for a live run; ControlError when the run has ended or cannot be found."""
    value = check_command(command, value)
    try:
        path = run_path(runs_dir, run_id)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    if not (path / "config.json").is_file():
        raise ControlError(f"no run {run_id!r} in {Path(runs_dir)}")
    state = RunState(RunReader(runs_dir).status(run_id)["state"])
    if state is not RunState.RUNNING:
        raise ControlError(f"run {run_id} is {state}: only a running run takes commands")
    with open_file(path / CONTROL_FILE, "a+b") as f:  # never through a link planted in the run folder
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        f.seek(0)
        seq = f.read().count(b"\n") + 1
        entry = Command(seq, command, value, round(time.time(), 3), source)
        f.write((json.dumps(entry._asdict()) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
    return entry


class ControlInbox:
    """The commands appended to one run's control.jsonl since the last poll, in order, each once."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / CONTROL_FILE
        self._offset = 0    # bytes of the file already read
        self._last_seq = 0  # highest sequence number handed out

    def poll(self) -> list[Command]:
        data, self._offset = read_complete(self.path, self._offset)
        commands = []
        for line in data.splitlines():
            command = _parse(line)
            if command is not None and command.seq > self._last_seq:
                commands.append(command)
                self._last_seq = command.seq
        return commands


def _parse(line: bytes) -> Command | None:
    """A Command from one line, or None for a line that is not a valid command (skipped, never fatal)."""
    try:
        raw = json.loads(line)
        command = Command(int(raw["seq"]), str(raw["command"]), raw.get("value"), float(raw.get("time", 0)),
                          str(raw.get("source", "")))
        value = check_command(command.command, command.value)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None
    if value is not None and not math.isfinite(value):
        return None
    return command._replace(value=value)
