"""The training side of the control channel: commands from runs/<id>/control.jsonl reach the loop.

`ControlListener` is a training callback. At every log step, and about once a second while the run is
paused, it reads the commands appended since its last look (lfm/store/control.py) and applies them to
the run's TrainingControl, exactly as the dashboard's buttons do in memory. So a run trained anywhere —
a dashboard thread, a CLI, a worker process, a Ray task — can be paused, stepped, re-weighted and
stopped from anywhere that sees its folder. Reading a small file once per log step costs one stat and,
when something was sent, one read.
"""
from __future__ import annotations

from pathlib import Path

from lfm.store.control import Command, ControlInbox

from .control import TrainingControl


class ControlListener:
    """Applies a run folder's control commands to a TrainingControl (see the module docstring)."""

    def __init__(self, run_dir: str | Path, control: TrainingControl):
        self.inbox = ControlInbox(run_dir)
        self.control = control
        self.applied: list[Command] = []  # every command applied, in order (for tests and summaries)

    def on_train_start(self, info: dict) -> None:
        self._apply_new()  # a command sent between the folder's creation and the first step

    def on_step_end(self, record: dict) -> None:
        self._apply_new()

    def on_paused(self) -> None:
        self._apply_new()

    def _apply_new(self) -> None:
        for command in self.inbox.poll():
            self._apply(command)
            self.applied.append(command)

    def _apply(self, command: Command) -> None:
        control = self.control
        if command.command == "pause":
            control.pause()
        elif command.command == "resume":
            control.resume()
        elif command.command == "step":
            control.step()
        elif command.command == "stop":
            control.stop(f"from {command.source or 'another process'}")
        elif command.command == "set_lambda":
            control.set_lambda(command.value)
