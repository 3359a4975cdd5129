"""Command line of LFM Entropy Lab: train, list, steer and export runs, and start the dashboard.

`python -m lfm train` trains one run, `python -m lfm runs` lists them, `python -m lfm control RUN_ID`
steers a live one, `python -m lfm export RUN_ID` writes a run's files (--files DIR) or TensorBoard
event files (--tensorboard DIR), and `python -m lfm dashboard` starts the dashboard; installed with
pip, `lfm` is the same command.

A CLI run is an ordinary run in the run store (lfm.store), so the dashboard shows it live and afterwards
like any other. Like the seed's main, `train` reads ./hyperparameters.json and ./training.json from the
current folder when they exist (defaults otherwise); flags then change single settings:

    python -m lfm train --data seattle_weather --set lambda_entropy=0.3 --set num_epochs=5 --name demo

Exit status: 0 finished, or stopped with Ctrl-C, SIGTERM or SIGHUP (the run is saved); 1 diverged or
failed; 2 bad input (one line "lfm: error: ..." on stderr, never a traceback); 130 aborted by a second
signal. Output cut short by its reader (`python -m lfm runs | head -1`) ends quietly.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import textwrap
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any, TextIO

from lfm.config import FIELDS, ConfigError, RunConfig, load_run_config, parse_value
from lfm.datasets import BUILT_IN, DATASETS
from lfm.store.schema import Metric, RunState

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABORTED = 0, 1, 2, 130
FILE_DATASET = next(d.name for d in DATASETS.values() if d.needs_file)  # what --data PATH.csv sets


class BadInput(Exception):
    """Input the user must fix (flags, files, data, device): one line on stderr and exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the usage and exit; main() reports the problem as one line instead
    def error(self, message: str):
        raise BadInput(f"{message} (see {self.prog} --help)")


def printable(text: Any) -> str:
    """text with every control or format character escaped (ESC -> \\x1b, U+202E -> \\u202e).

    Run names, states and reasons come from files anyone may have written: printed raw, an escape code
    in one could recolour, retitle or rewrite the user's terminal."""
    return "".join(ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else
                   ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def error(message: Any) -> None:
    """Print "lfm: error: <message>" as a single line on stderr."""
    print(f"lfm: error: {printable(' '.join(str(message).split()))}", file=sys.stderr, flush=True)


# ---- settings ---------------------------------------------------------------------------------------

def settings_help() -> str:
    """Every setting of lfm.config.FIELDS with its file, default and allowed values (for --help)."""
    lines = ["settings for --set KEY=VALUE:"]
    for f in FIELDS:
        default = "null" if f.default is None else f.default
        lines.append(f"  {f.name:<16}{f.group}.json, default {default}; {f.allowed}")
        lines += textwrap.wrap(f.help, 88, initial_indent=" " * 18, subsequent_indent=" " * 18)
    return "\n".join(lines)


def clipped(text: str, limit: int = 40) -> str:
    """text, cut to its first `limit` characters and "..." if longer: a flag echoed in a one-line
    message stays readable whatever was typed (a 5,000-digit number, say)."""
    return text if len(text) <= limit else text[:limit] + "..."


def parse_sets(items: list[str]) -> dict[str, str]:
    """["key=value", ...] -> {key: value}; each key must be a setting and each value must parse."""
    overrides = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise BadInput(f"--set {clipped(item)!r}: expected KEY=VALUE, e.g. --set lambda_entropy=0.3")
        try:
            parse_value(key, value)  # checked one by one so the message points at --set, not a file
        except ConfigError as e:  # the value came from the flag, not from the file e.source names
            raise BadInput(f"--set {clipped(key)}={clipped(value)}: {e.message}") from None
        overrides[key] = value  # repeated keys: the last one wins
    return overrides


def data_overrides(data: str | None) -> dict[str, Any]:
    """--data NAME_OR_CSV -> the dataset and csv_path settings it stands for."""
    if data is None:
        return {}
    if data in BUILT_IN:
        return {"dataset": data, "csv_path": None}
    if data.lower().endswith(".csv") or os.path.isfile(data):
        # absolute, so the run's saved config still finds the file when read from another folder
        return {"dataset": FILE_DATASET, "csv_path": os.path.abspath(data)}
    raise BadInput(f"--data {data!r}: expected {', '.join(BUILT_IN)} or the path of a .csv file")


def build_config(args: argparse.Namespace) -> tuple[RunConfig, list[str]]:
    """The run's config and where its settings came from (for the summary).

    1. each file: the path given, else ./<file> when present, else that file's defaults;
    2. --data, then --set (so --set wins), all applied at once so settings that only make sense
       together (dataset=csv with csv_path) can be changed together."""
    paths = {}
    for group, given in (("hyperparameters", args.hyperparameters), ("training", args.training)):
        if given is not None:
            paths[group] = given  # given but missing is an error, never a silent fallback to defaults
        elif Path(f"{group}.json").is_file():
            paths[group] = f"{group}.json"
    cfg = load_run_config(paths.get("hyperparameters"), paths.get("training"))
    sets = parse_sets(args.set or [])
    overrides = {**data_overrides(args.data), **sets}
    flags = ([f"--data {args.data}"] if args.data is not None else []) + [f"--set {k}={v}"
                                                                          for k, v in sets.items()]
    if overrides:
        try:
            cfg = cfg.with_overrides(overrides)
        except ConfigError as e:  # a check across settings failed: say the flags took part
            raise ConfigError(f"{e.message} (after {', '.join(flags)})", e.field, e.source) from None
    sources = [paths.get(g, f"default {g}") for g in ("hyperparameters", "training")]
    return cfg, sources + flags


def check_device(device: str) -> None:
    """Refuse a device this machine lacks before anything is loaded or created."""
    from lfm.training.devices import available_devices

    available = available_devices()
    if device != "auto" and device not in available:
        raise BadInput(f"device = {device!r} is not available on this machine: allowed "
                       f"{', '.join(['auto', *available])} (e.g. --set device=cpu)")


# ---- progress ---------------------------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """0:07, 12:34 or 1:02:03."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """Training callback showing progress on stderr: redrawn in place with \\r on a terminal, else one
    line per ~10% of the steps so a log file stays readable.

    It updates with the metrics records, i.e. every log_every steps, because the training loop talks
    to the device only then."""

    def __init__(self, num_epochs: int, stream: TextIO | None = None, tty: bool | None = None,
                 title: str = "run"):
        self.num_epochs = num_epochs  # for "epoch 3/10": records carry only the epoch index
        self.title = title            # what the first line calls the run, e.g. "run <run_id>"
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = 0                # optimiser steps in the whole run, from train_start
        self.printed_tenth = -1       # log mode: the last 10% mark printed
        self.printed_step = None      # log mode: the step of the last line printed
        self.drawn = 0                # terminal mode: length of the line now on screen
        self.last: dict | None = None  # the latest record

    def line(self, rec: dict, bar_width: int = 0) -> str:
        step, total = rec[Metric.STEP], max(self.total, 1)
        time_s = rec.get(Metric.TIME_S) or 0.0
        eta = (total - step) * time_s / step if step else float("nan")  # at the mean pace so far
        text = " | ".join([
            f"{step}/{total} steps ({100 * step / total:.0f}%)",
            f"epoch {rec[Metric.EPOCH] + 1}/{self.num_epochs}",
            f"loss {rec[Metric.LOSS]:.4g}",
            f"H_route {rec[Metric.ROUTING_ENTROPY]:.2f} bits",
            f"{rec.get(Metric.SAMPLES_PER_S) or 0:,.0f} samples/s",
            f"ETA {format_duration(eta)}",
        ])
        if bar_width:
            filled = round(bar_width * min(step / total, 1))
            text = f"[{'#' * filled}{'.' * (bar_width - filled)}] {text}"
        return text

    def on_train_start(self, info: dict) -> None:
        self.total = int(info.get("total_steps") or 0)
        self._write(f"{self.title}: training {info.get('num_parameters', 0):,} parameters on "
                    f"{info.get('device')} for {self.total} steps; Ctrl-C stops and saves the run\n")

    def on_step_end(self, rec: dict) -> None:
        self.last = rec
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1  # writing the last column wraps
            text = self.line(rec, bar_width=20 if width >= 120 else 0)[:width]
            self._write("\r" + text.ljust(self.drawn))  # pad over a longer previous line
            self.drawn = len(text)
            return
        tenth = 10 * rec[Metric.STEP] // max(self.total, 1)
        if tenth > self.printed_tenth:
            self.printed_tenth = tenth
            self._print(rec)

    def on_train_end(self, result, model=None) -> None:
        if self.tty:
            if self.drawn:
                self._write("\n")
        elif self.last is not None and self.last[Metric.STEP] != self.printed_step:
            self._print(self.last)  # where a stopped run ended, or the final partial interval

    def _print(self, rec: dict) -> None:
        self.printed_step = rec[Metric.STEP]
        self._write(self.line(rec) + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or a broken pipe: the run matters more
            pass


# Ctrl-C; what `docker stop`, systemd, a cluster's scheduler and Ray's cancel send; a closed terminal
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class CtrlC:
    """While active, the first Ctrl-C (or SIGTERM, or SIGHUP) asks the run to stop: it ends and is
    saved as "stopped". A second one raises KeyboardInterrupt to abort at once. Signals can only be
    caught in the main thread; elsewhere (main() called from a worker thread) they keep their default
    meaning."""

    def __init__(self, control, stream: TextIO | None = None):
        self.control = control
        self.stream = stream or sys.stderr
        self.previous: dict[int, Any] = {}  # signal -> the handler to put back
        self.installed = False
        self.last_signal = "Ctrl-C"  # the latest signal caught, as signal_name spells it

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
            self.installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self.installed:
            for sig, handler in self.previous.items():
                signal.signal(sig, handler)
            self.installed = False

    def _handle(self, signum, frame) -> None:
        self.last_signal = signal_name(signum)
        if self.control.stopped:
            raise KeyboardInterrupt
        ctrl_c = signum == signal.SIGINT
        self.control.stop("by the user" if ctrl_c else f"by {self.last_signal}")
        try:
            newline = "\n" if self.stream.isatty() else ""  # leave a progress bar drawn with \r
            self.stream.write(f"{newline}lfm: {'' if ctrl_c else self.last_signal + ': '}stopping after the "
                              "current step and saving the run (press Ctrl-C again to abort)\n")
            self.stream.flush()
        except (OSError, ValueError, RuntimeError):  # RuntimeError: interrupted mid-write (reentrant)
            pass


# ---- summary ----------------------------------------------------------------------------------------

def _bits(value: float | None, maximum: float) -> str:
    return "n/a" if value is None else f"{value:.3f} bits (max {maximum:.3f})"


def format_summary(run, result, wall_s: float, sources: list[str]) -> str:
    """The end-of-run report: what happened, where it is, and how good the model is."""
    rec = result.last_record or {}
    E = run.config.model.num_experts
    K = len(run.data.regime_names or ())
    val = rec.get(Metric.VAL_LOSS)
    if val is None and result.status in (RunState.FINISHED, RunState.STOPPED):  # e.g. stopped before the first record
        from lfm.training.evaluate import validation_loss  # the loop's own: the same number as in records

        val = validation_loss(run.model, run.data.x_val, run.data.y_val)
    baseline = run.data.persistence_mse()
    if val is None or not math.isfinite(val):
        shown = "n/a" if val is None else f"{val:.4g}"  # none logged, or NaN after a divergence
        val_text = f"{shown} (repeating the last value: {baseline:.4g})"
    else:
        if val < baseline:
            verdict = f"{baseline / val:.1f}x lower" if val > 0 else "lower"
        else:
            verdict = f"{val / baseline:.1f}x higher" if baseline > 0 else "higher"
        val_text = f"{val:.4g} vs {baseline:.4g} for repeating the last value ({verdict})"
    checkpoint = run.writer.path / "checkpoint.pt"
    rows = [
        ("status", f"{result.status}: {result.reason}"),
        ("run", run.run_id),
        ("folder", str(run.writer.path)),
        ("settings", ", ".join(sources)),
        ("data", f"{run.data.name}: {len(run.data.x_train)} training, {len(run.data.x_val)} "
                 f"validation windows"),
        ("steps", f"{result.steps} of {rec.get(Metric.TOTAL_STEPS, '?')}"),
        ("wall time", f"{wall_s:.1f} s (training {result.elapsed_s:.1f} s)"),
        ("val loss", val_text),
        ("routing entropy", _bits(rec.get(Metric.ROUTING_ENTROPY), math.log2(E))),
        ("load entropy", _bits(rec.get(Metric.LOAD_ENTROPY), math.log2(E))),
        ("specialisation", _bits(rec.get(Metric.SPECIALISATION), math.log2(E))),
    ]
    if rec.get(Metric.MI_REGIME) is not None:
        rows.append(("I(expert; regime)", _bits(rec[Metric.MI_REGIME], math.log2(min(E, K)) if K else 0.0)))
    rows.append(("checkpoint", str(checkpoint) if checkpoint.is_file() else "not saved"))
    return "\n".join(f"{label:<19}{text}" for label, text in rows)  # 19: the longest label + 2


# ---- commands ---------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from lfm.store import tensorboard

    try:
        cfg, sources = build_config(args)  # before torch is imported: a bad setting costs no torch start-up
        from lfm.training.control import TrainingControl
        from lfm.training.experiment import execute, open_run, prepare_run

        check_device(cfg.training.device)
        if args.tensorboard is not None and not tensorboard.AVAILABLE:
            raise BadInput("--tensorboard needs the tensorboard package: pip install tensorboard")
        run = prepare_run(cfg, args.runs_dir, name=args.name)  # loads the data, builds the model
        writer = open_run(run)  # the run's folder: only once the data and model are good
    except (BadInput, ValueError) as e:  # ConfigError and DataError are ValueErrors, as prepare_run's
        error(e)
        return EXIT_BAD_INPUT
    except OSError as e:  # e.g. an unreadable CSV or a runs folder we may not write
        error(f"{e.filename}: {e.strerror or e}" if e.filename else e)
        return EXIT_BAD_INPUT
    except Exception as e:  # not the user's input: still one line, but exit status 1
        error(f"could not prepare the run: {type(e).__name__}: {e}")
        return EXIT_FAILED

    control = TrainingControl()
    callbacks = [] if args.quiet else [ProgressBar(cfg.training.num_epochs, title=f"run {run.run_id}")]
    start = time.perf_counter()
    try:
        with CtrlC(control) as signals, writer:  # the writer records an abort or a crash as the run's end
            if args.tensorboard is not None:  # DIR/<run_id>: runs logged into one DIR compare side by side
                callbacks.append(tensorboard.TensorBoardLogger(Path(args.tensorboard) / run.run_id,
                                                               run.config.to_dict(), run_dir=writer.path))
            result = execute(run, control=control, callbacks=callbacks, backend="cli")
    except KeyboardInterrupt:
        error(f"aborted by a second {signals.last_signal}: run {run.run_id} is marked stopped, "
              "without a checkpoint")
        return EXIT_ABORTED
    except Exception as e:  # train_model reports its own failures; this is anything around it
        error(f"run {run.run_id} failed: {type(e).__name__}: {e}")
        return EXIT_FAILED
    if writer.folder_removed:  # nothing is left to summarise: the run's records went with its folder
        error(f"run {run.run_id} failed: its folder was removed ({writer.path})")
        return EXIT_FAILED
    try:
        print(format_summary(run, result, time.perf_counter() - start, sources), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`
        pass
    if result.status in (RunState.DIVERGED, RunState.FAILED):
        error(f"run {run.run_id} {result.reason}")
        return EXIT_FAILED
    return EXIT_OK


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _last_val_loss(reader, run) -> float | None:
    """The run's latest validation loss: usually in its last metrics row, else in an earlier one
    (a run stopped right after a log step, or one still running between epochs)."""
    value = (run.last_metrics or {}).get(Metric.VAL_LOSS)
    if value is None and run.last_metrics is not None:
        try:
            values = reader.read_metrics(run.run_id)[Metric.VAL_LOSS].dropna()
            value = float(values.iloc[-1]) if len(values) else None
        except (OSError, ValueError, KeyError):  # damaged or odd file: show no value rather than fail
            value = None
    return value


def cmd_runs(args: argparse.Namespace) -> int:
    from lfm.store import RunReader

    reader = RunReader(args.runs_dir)
    runs = reader.list_runs()  # newest first
    if not runs:
        print(f"no runs in {args.runs_dir}")
        return EXIT_OK
    table = [("ID", "STATE", "NAME", "STEPS", "VAL LOSS")]
    for r in runs:
        last = r.last_metrics or {}
        step = r.status.get("step") or last.get(Metric.STEP) or 0
        total = r.status.get("total_steps") or last.get(Metric.TOTAL_STEPS)
        name = printable(" ".join((r.name or "-").split()))
        table.append((r.run_id, printable(r.state), name if len(name) <= 30 else name[:27] + "...",
                      printable(f"{step}/{total}" if total else step), _cell(_last_val_loss(reader, r))))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for r in runs:  # listed above with what could be read; what cannot, on stderr
        if r.problem:
            print(f"{r.run_id} is unreadable: {printable(r.problem)}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Write one run's exports: the Runs page's download files, and/or TensorBoard event files."""
    from lfm.store import RunReader, export
    from lfm.store.damage import RunDamaged
    from lfm.store.tensorboard import TensorBoardUnavailable, write_tensorboard

    if args.files is None and args.tensorboard is None:
        raise BadInput("nothing to export: give --tensorboard DIR, --files DIR or both")
    reader = RunReader(args.runs_dir)
    try:
        if not (reader.path(args.run_id) / "config.json").is_file():
            raise BadInput(f"no run {args.run_id!r} in {args.runs_dir} (`python -m lfm runs` lists them)")
    except ValueError as e:  # an id that is no run id at all, e.g. one with "/"
        raise BadInput(e) from None
    try:
        if args.files is not None:
            folder = Path(args.files)
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in export.export_files(reader, args.run_id).items():
                (folder / name).write_bytes(data)
                print(folder / name)
        if args.tensorboard is not None:
            # one subfolder per run, so several exports into one DIR show as runs side by side
            log_dir = Path(args.tensorboard) / args.run_id
            if any(log_dir.glob("events.out.tfevents.*")):  # TensorBoard would show both copies, mixed
                raise BadInput(f"{log_dir} already holds event files: remove them or choose another folder")
            for path in write_tensorboard(reader, args.run_id, log_dir):
                print(path)
            print(f"view with: tensorboard --logdir {args.tensorboard}", file=sys.stderr)
    except TensorBoardUnavailable as e:
        error(e)
        return EXIT_FAILED
    except RunDamaged as e:  # a file of the run that cannot be read: say which, as the Runs page does
        error(f"run {args.run_id} is unreadable: {e}")
        return EXIT_BAD_INPUT
    except OSError as e:  # e.g. a folder we may not write
        error(f"{e.filename}: {e.strerror or e}" if e.filename else e)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_control(args: argparse.Namespace) -> int:
    """Send one command to a live run through its folder's control.jsonl (lfm/store/control.py)."""
    from lfm.store.control import ControlError, send_command

    if (args.action is None) == (args.lambda_value is None):
        raise BadInput("give one action (pause, resume, step, stop) or --lambda X")
    command, value = (args.action, None) if args.action else ("set_lambda", args.lambda_value)
    try:
        sent = send_command(args.runs_dir, args.run_id, command, value, source="cli")
    except ControlError as exc:
        raise BadInput(exc) from None
    what = f"lambda = {sent.value:g}" if command == "set_lambda" else command
    print(f"sent {what} to run {args.run_id} (command {sent.seq}); it applies at the run's next log step")
    return EXIT_OK


def app_script() -> Path:
    """The dashboard's streamlit_app.py: in lfm_app/ beside lfm when installed from the wheel (see
    pyproject.toml), at the top of the checkout beside lfm otherwise."""
    root = Path(__file__).resolve().parent.parent
    for script in (root / "lfm_app" / "streamlit_app.py", root / "streamlit_app.py"):
        if script.is_file():
            return script
    raise BadInput(f"the dashboard's streamlit_app.py is neither in {root / 'lfm_app'} nor in {root}: "
                   "reinstall lfm-entropy-lab")


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Become `streamlit run streamlit_app.py ...`: signals and the exit status are then Streamlit's, and
    the app reads its .streamlit/config.toml from beside the script, wherever it is started."""
    if args.runs_dir is not None:
        os.environ["LFM_RUNS_DIR"] = os.path.abspath(args.runs_dir)
    argv = [sys.executable, "-m", "streamlit", "run", str(app_script()), *args.streamlit_options]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return EXIT_FAILED  # not reached: execv replaces this process or raises OSError


def build_parser() -> argparse.ArgumentParser:
    # "lfm" when started as the installed console script, else the module form people typed
    prog = "lfm" if Path(sys.argv[0]).stem == "lfm" else "python -m lfm"
    parser = _Parser(prog=prog, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train one run and record it in the runs folder",
        description=textwrap.fill(
            "Train one run. Settings: the --hyperparameters and --training files (by default "
            "./hyperparameters.json and ./training.json when present, else built-in defaults), then "
            "--data, then --set. Ctrl-C stops the run and saves it; a second Ctrl-C aborts.", 88),
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--hyperparameters", metavar="PATH",
                       help="model settings file (default: ./hyperparameters.json if present)")
    train.add_argument("--training", metavar="PATH",
                       help="training settings file (default: ./training.json if present)")
    train.add_argument("--data", metavar="NAME_OR_CSV",
                       help=f"{', '.join(BUILT_IN)}, or the path of a .csv file of numeric columns")
    train.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="change one setting (repeatable; the settings are listed below)")
    train.add_argument("--runs-dir", metavar="DIR", default="runs", help="runs folder (default: ./runs)")
    train.add_argument("--name", help="a name for the run, shown in the dashboard and in its folder name")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--tensorboard", metavar="DIR",
                       help="also log to TensorBoard while training, into DIR/RUN_ID (needs the tensorboard package)")
    train.set_defaults(func=cmd_train)

    runs = commands.add_parser("runs", help="list the runs in the runs folder",
                               description="List the runs in the runs folder, newest first.")
    runs.add_argument("--runs-dir", metavar="DIR", default="runs", help="runs folder (default: ./runs)")
    runs.set_defaults(func=cmd_runs)

    dashboard = commands.add_parser(
        "dashboard", help="start the dashboard (Streamlit) in a browser tab",
        description="Start the dashboard: `streamlit run` of the installed app. Options other than "
                    "--runs-dir go to Streamlit (see `streamlit run --help`), e.g. --server.port 8600 "
                    "or --server.headless true.")
    dashboard.add_argument("--runs-dir", metavar="DIR",
                           help="runs folder (default: $LFM_RUNS_DIR, else ./runs)")
    dashboard.set_defaults(func=cmd_dashboard, streamlit_options=[])

    exp = commands.add_parser(
        "export", help="write a run's files, or its TensorBoard event files",
        description=textwrap.fill(
            "Write one run's exports. --files DIR: the metrics CSV, hyperparameters.json and training.json, "
            "the provenance and the checkpoint, as the Runs page's downloads. --tensorboard DIR: event files "
            "in DIR/RUN_ID (scalars, lambda changes, hparams, gate heatmaps); view them with "
            "`tensorboard --logdir DIR`.", 88))
    exp.add_argument("run_id", metavar="RUN_ID", help="the run's id, as `python -m lfm runs` lists it")
    exp.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files into DIR/RUN_ID")
    exp.add_argument("--files", metavar="DIR", help="write the run's export files into DIR")
    exp.add_argument("--runs-dir", metavar="DIR", default="runs", help="runs folder (default: ./runs)")
    exp.set_defaults(func=cmd_export)

    control = commands.add_parser(
        "control", help="pause, resume, step, stop or re-weight a live run",
        description=textwrap.fill(
            "Steer a live run, wherever it trains (dashboard, CLI, worker process, Ray), through its "
            "folder: the command is appended to runs/RUN_ID/control.jsonl and applied at the run's next "
            "log step (at once while it is paused). A run that has ended takes no commands.", 88))
    control.add_argument("run_id", metavar="RUN_ID", help="the run's id (its folder name; see `runs`)")
    control.add_argument("action", nargs="?", choices=("pause", "resume", "step", "stop"),
                         help="what to do (or --lambda instead)")
    control.add_argument("--lambda", dest="lambda_value", metavar="X", type=_number,
                         help="set lambda_entropy to X from the next step on")
    control.add_argument("--runs-dir", metavar="DIR", default="runs", help="runs folder (default: ./runs)")
    control.set_defaults(func=cmd_control)

    from lfm.cli_sweep import add_parser as add_sweep_parser  # here: lfm.cli_sweep imports this module

    add_sweep_parser(commands)
    return parser


def _number(text: str) -> float:
    """--lambda's value: parsed with the settings' own grammar (lfm.config.parse_value)."""
    try:
        return float(parse_value("lambda_entropy", text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the command line (argv defaults to sys.argv[1:]) and return the exit status."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if args.command == "dashboard":
            args.streamlit_options = unknown  # Streamlit's own options, checked by Streamlit
        elif unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        return args.func(args)
    except BadInput as e:
        error(e)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:  # Ctrl-C outside training, e.g. while the data loads
        error("interrupted by Ctrl-C")
        return EXIT_ABORTED
    except BrokenPipeError:  # the reader of stdout left, e.g. `python -m lfm runs | head -1`
        _discard_stdout()
        return EXIT_OK


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the broken pipe
    again and print "Exception ignored ... BrokenPipeError" (Python docs, signal module, SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a file
        pass
