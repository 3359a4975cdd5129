"""Run store: one folder per training run under runs/, the single source of truth for the dashboard and
the CLI (design.md §3).

RunWriter is a training callback (on_train_start / on_step_end / on_train_end, notes/contract.md) that
appends plain data to files; RunReader lists runs and reads them, incrementally for live views.
Layout of runs/<run_id>/:

    config.json    the RunConfig dict given to the writer, plus "name" (verbatim) and "created"
    status.json    state, reason, pid, hostname, started/ended, heartbeat, step; replaced atomically
    info.json      the train_start info dict (num_experts, regime names, probe labels, ...)
    metrics.csv    one row per logged step: METRIC_COLUMNS then load_0..load_{E-1}; None -> empty cell
    gates.jsonl    one line per logged step: {"step", "probe_gates", "regime_matrix"}
    events.jsonl   user events during the run, e.g. {"step": 120, "kind": "lambda_change", "value": 0.3}
    checkpoint.pt  {"model_state", "config", "input_features", "step"}, loadable with weights_only=True

Every append is flushed (and by default fsync'ed), so a run killed with SIGKILL keeps each record up to
its last log step, and readers only ever parse complete lines. The writer needs no thread of its own: a run whose
writer died is recognised by its pid (same host) or a stale heartbeat (other host) and read "interrupted".
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

# metrics.csv columns taken verbatim from a step record; load_0..load_{E-1} (from expert_load) follow
METRIC_COLUMNS = ("step", "epoch", "total_steps", "time_s", "samples_per_s", "lambda_entropy",
                  "balance_coef", "loss", "total_loss", "val_loss", "routing_entropy", "load_entropy",
                  "specialisation", "varentropy", "mi_regime")
STATES = ("running", "finished", "stopped", "diverged", "failed")  # as written; readers add "interrupted"
CHECKPOINT_KEYS = ("model_state", "config", "input_features", "step")
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")  # used with fullmatch: "$" would allow "\n"
HOSTNAME = socket.gethostname()
_sync = getattr(os, "fdatasync", os.fsync)  # an append needs data + size on disk, not the mtime


def slugify(name: str | None, max_len: int = 40) -> str:
    """Lower-case [a-z0-9-] slug of a user-given run name; "run" when nothing usable is left."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    # a minus sign of a number becomes "m" ("lambda=-0.5" -> "lambda-m0-5"), else it would vanish as a separator
    ascii_name = re.sub(r"(?<![a-z0-9])-(?=[0-9])", "m", ascii_name.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:max_len].strip("-")
    return slug or "run"


def run_path(runs_dir: str | Path, run_id: str) -> Path:
    """The folder of run_id inside runs_dir; ValueError for any id that could point elsewhere."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id) or ".." in run_id:
        raise ValueError(f"invalid run id {run_id!r}: expected 1-121 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit and without '..'")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:  # e.g. a symlink in runs/ pointing outside it
        raise ValueError(f"run id {run_id!r} resolves to {path}, outside the runs folder {root}")
    return path


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json_atomic(path: Path, obj: Any) -> None:
    # readers see the old file or the new one, never a half-written one
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))  # repr: full precision, "nan"


def _rounded(value: Any) -> Any:
    # 6 decimals are plenty for gate probabilities and halve the size of gates.jsonl
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return round(value, 6) if isinstance(value, float) else value


def _read_complete(path: Path, offset: int = 0) -> tuple[bytes, int]:
    """Bytes of path from offset through its last newline, and the offset just after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b"", offset
    end = data.rfind(b"\n") + 1  # a trailing line without its newline is still being written
    return data[:end], offset + end


def _newest_line(path: Path, offset: int, tail: int = 1 << 20) -> tuple[list[dict], int]:
    """The newest complete JSON line written after offset (as a 0- or 1-item list), and the new offset.
    Reads at most the file's last `tail` bytes unless a single line is longer than that."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], offset
    start = max(offset, size - tail)
    data, end = _read_complete(path, start)
    if start > offset and data.count(b"\n") < 2:  # the tail may begin mid-line: need one whole line
        data, end = _read_complete(path, offset)
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return _json_lines(lines[-1] + b"\n") if data else [], end


def _last_line(path: Path) -> tuple[bytes, bool] | None:
    """(last complete line, whether it is also the file's first line), reading only the file's tail."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        size, block = f.seek(0, os.SEEK_END), 8192
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start)
            end = data.rfind(b"\n")
            begin = data.rfind(b"\n", 0, max(end, 0))
            if end >= 0 and (begin >= 0 or start == 0):
                return data[begin + 1:end], begin < 0 and start == 0
            if start == 0:
                return None  # not one complete line yet
            block *= 8


def _json_lines(data: bytes) -> list[dict]:
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # blank, or garbage a crashed file system left behind: skip, keep the rest
    return out


def _frame(rows: bytes, names: list[str] | None) -> pd.DataFrame:
    """DataFrame of complete CSV rows (no header line) under the column names."""
    if not rows.strip():  # typed empty frame, so pd.concat with later rows keeps float columns
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in (names or METRIC_COLUMNS)})
    return pd.read_csv(io.BytesIO(rows), names=names, header=None)


def _parse_value(text: str) -> int | float | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes (Linux)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def save_checkpoint(path: str | Path, model, config: dict, input_features: int, step: int) -> Path:
    """Write checkpoint.pt atomically; tensors are moved to CPU so any machine can load the file."""
    import torch  # lazily: reading runs (dashboard lists, CLI) needs no torch

    path = Path(path)
    ckpt = {"model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": config, "input_features": int(input_features), "step": int(step)}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file (or a run folder's checkpoint.pt); ValueError naming the file otherwise."""
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise ValueError(f"no checkpoint file at {path}")
    try:  # weights_only: a checkpoint is data, never code to run
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file (UnpicklingError, RuntimeError, ...)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not a readable checkpoint: {first_line}") from exc
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not an LFM checkpoint: missing {', '.join(missing)}")
    return ckpt


class LoadedModel(NamedTuple):
    model: Any   # LFModel with the checkpoint's weights, in eval mode
    config: Any  # RunConfig it was trained with


def load_model(run_dir_or_checkpoint: str | Path) -> LoadedModel:
    """Rebuild the model of a run folder or checkpoint file -> (model, cfg)."""
    from lfm.config import RunConfig  # lazily: those modules import torch and the model code
    from lfm.model import build_model

    ckpt = load_checkpoint(run_dir_or_checkpoint)
    cfg = RunConfig.from_dict(ckpt["config"])
    model = build_model(cfg, ckpt["input_features"])
    model.load_state_dict(ckpt["model_state"])
    return LoadedModel(model.eval(), cfg)


class RunWriter:
    """Training callback that records one run in a fresh folder under runs_dir."""

    def __init__(self, runs_dir: str | Path, config: dict, *, name: str | None = None,
                 input_features: int | None = None, heartbeat_s: float = 2.0, fsync: bool = True,
                 meta: dict | None = None):
        self.config = dict(config)          # RunConfig.to_dict(); goes into config.json and the checkpoint
        self.name = name                    # user-given name, stored verbatim
        self.meta = dict(meta or {})        # labels for grouping runs, e.g. {"sweep": id}; in config.json
        self.input_features = input_features  # F of the data; None: model.input_features or token_dim
        self.heartbeat_s = heartbeat_s      # status.json is rewritten at most this often between states
        self.fsync = fsync                  # False: flush only (survives kill -9, not a power cut)
        self._lock = threading.Lock()       # log_event may come from the UI thread while training writes
        self._files: dict[str, Any] = {}    # open append handles by file name
        self._columns: list[str] | None = None  # metrics.csv header, fixed when first written
        self._step = 0                      # last logged optimizer step
        runs_dir = Path(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        # time first so ids sort by age; random suffix so a dashboard and a CLI run started in the same
        # second never collide (mkdir without exist_ok is the arbiter)
        while True:
            self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(name)}-{secrets.token_hex(2)}"
            self.path = run_path(runs_dir, self.run_id)
            try:
                self.path.mkdir()
                break
            except FileExistsError:
                continue
        created = _now_iso()
        self._status = {"state": "running", "reason": "", "pid": os.getpid(), "hostname": HOSTNAME,
                        "started": created, "ended": None, "updated": time.time(), "step": 0,
                        "total_steps": None}
        self._write_status()
        # config.json last: readers take a folder for a run once it exists, and status.json is there by then
        _write_json_atomic(self.path / "config.json",
                           {**self.config, "name": name, "created": created, "meta": dict(meta or {})})

    # ---- training callbacks -------------------------------------------------------------------------
    def on_train_start(self, info: dict) -> None:
        _write_json_atomic(self.path / "info.json", info)
        with self._lock:
            if self._columns is None and info.get("num_experts"):
                self._write_header(int(info["num_experts"]))
            self._status["total_steps"] = info.get("total_steps")
            self._write_status()

    def on_step_end(self, record: dict) -> None:
        load = list(record.get("expert_load") or ())
        gates = {"step": record.get("step"), "probe_gates": _rounded(record.get("probe_gates")),
                 "regime_matrix": _rounded(record.get("regime_matrix"))}
        with self._lock:
            if self._columns is None:  # no train_start info: the first record fixes E
                self._write_header(len(load))
            num_loads = len(self._columns) - len(METRIC_COLUMNS)
            row = [record.get(c) for c in METRIC_COLUMNS] + (load + [None] * num_loads)[:num_loads]
            # gates first: a metrics row a reader can see always has its gate snapshot on disk already
            self._append("gates.jsonl", json.dumps(gates) + "\n")
            self._append("metrics.csv", ",".join(_cell(v) for v in row) + "\n")
            self._step = int(record.get("step") or self._step)
            if time.time() - self._status["updated"] >= self.heartbeat_s:
                self._write_status()

    def on_train_end(self, result, model=None) -> None:
        """result: TrainResult (.status, .reason, .steps); model: saved to checkpoint.pt when given."""
        reason = result.reason
        if model is not None:
            try:
                features = (self.input_features or getattr(model, "input_features", None)
                            or self.config.get("hyperparameters", {}).get("token_dim"))
                if features is None:
                    raise ValueError("input_features unknown")
                save_checkpoint(self.path / "checkpoint.pt", model, self.config, features, result.steps)
            except Exception as exc:  # the run's outcome matters more than its weights: still record it
                reason = "; ".join(filter(None, [reason, f"checkpoint not saved: {exc}"]))
        self._finish(result.status, reason, result.steps)

    def on_lambda_change(self, change: dict) -> None:
        """lfm.train's {"step", "kind": "lambda_change", "value"} when lambda is changed mid-run."""
        self.log_event(**change)

    # ---- outside the training loop ------------------------------------------------------------------
    def log_event(self, kind: str, **data: Any) -> dict:
        """Append a user event (e.g. kind="lambda_change", value=0.3) at the last logged step."""
        event = {"step": self._step, "time": time.time(), "kind": kind, **data}
        with self._lock:
            self._append("events.jsonl", json.dumps(event) + "\n")
        return event

    def on_paused(self) -> None:
        """lfm.train calls this about once a second while a run is paused."""
        self.heartbeat()

    def heartbeat(self) -> None:
        """Refresh status.json's heartbeat, e.g. while paused, so other hosts don't read "interrupted"."""
        with self._lock:
            if self._status["ended"] is None:
                self._write_status()

    def fail(self, reason: str) -> None:
        """Mark the run failed (error before or around training); no-op once the run has ended."""
        if self._status["ended"] is None:
            self._finish("failed", reason)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._status["ended"] is None:
            if exc_type is KeyboardInterrupt:
                self._finish("stopped", "interrupted (Ctrl-C)")
            elif exc is not None:
                self.fail(f"{exc_type.__name__}: {exc}")
            else:
                self.fail("training ended without reporting a result")
        self.close()

    # ---- internals ----------------------------------------------------------------------------------
    def _write_header(self, num_experts: int) -> None:
        self._columns = [*METRIC_COLUMNS, *(f"load_{e}" for e in range(num_experts))]
        self._append("metrics.csv", ",".join(self._columns) + "\n")

    def _append(self, file_name: str, text: str) -> None:
        f = self._files.get(file_name)
        if f is None:
            f = self._files[file_name] = open(self.path / file_name, "a", encoding="utf-8", newline="")
        f.write(text)
        f.flush()
        if self.fsync:
            _sync(f.fileno())

    def _write_status(self) -> None:
        self._status.update(updated=time.time(), step=self._step)
        _write_json_atomic(self.path / "status.json", self._status)

    def _finish(self, state: str, reason: str, step: int | None = None) -> None:
        with self._lock:
            self._step = self._step if step is None else int(step)
            self._status.update(state=state, reason=reason, ended=_now_iso())
            self._write_status()
            self.close()


RUN_LABELS = ("name", "created", "meta")  # what config.json holds besides the RunConfig dict


@dataclass
class RunSummary:
    run_id: str                  # folder name under runs/
    name: str | None             # user-given name, verbatim
    state: str                   # status.json state, or "interrupted" when its writer is gone
    created: str | None          # ISO time the run folder was made (local time with UTC offset)
    config: dict                 # RunConfig dict (config.json without name/created)
    last_metrics: dict | None    # last metrics.csv row (column -> value), None before the first log step
    path: Path                   # the run folder
    status: dict                 # status.json, with "state" as above
    meta: dict = field(default_factory=dict)  # grouping labels given to the writer, e.g. a sweep id


class RunReader:
    """Reads runs under runs_dir, whoever writes them (this process, a CLI, another host)."""

    def __init__(self, runs_dir: str | Path, *, stale_after_s: float = 120.0):
        self.runs_dir = Path(runs_dir)
        self.stale_after_s = stale_after_s  # other host: heartbeat older than this means the writer is gone
        self._offsets: dict[str, tuple[int, int, list[str] | None]] = {}  # read_new: metrics, gates, header

    def path(self, run_id: str) -> Path:
        return run_path(self.runs_dir, run_id)

    def list_runs(self) -> list[RunSummary]:
        """Every run folder, newest first; folders that are not (complete) runs are skipped."""
        if not self.runs_dir.is_dir():
            return []
        runs = []
        for entry in self.runs_dir.iterdir():
            if entry.is_dir() and RUN_ID_RE.fullmatch(entry.name) and (entry / "config.json").is_file():
                try:
                    runs.append(self.summary(entry.name))
                except (OSError, ValueError):  # damaged, or removed meanwhile: nothing to show
                    continue
        return sorted(runs, key=lambda r: (_timestamp(r.created), r.run_id), reverse=True)

    def summary(self, run_id: str) -> RunSummary:
        path = self.path(run_id)
        raw = _read_json(path / "config.json")
        status = self.status(run_id)
        config = {k: v for k, v in raw.items() if k not in RUN_LABELS}
        return RunSummary(run_id, raw.get("name"), status["state"], raw.get("created"), config,
                          self.last_metrics(run_id), path, status, raw.get("meta") or {})

    def status(self, run_id: str) -> dict:
        """status.json; a "running" run whose writer is gone reads "interrupted" (and "recorded_state")."""
        try:
            status = _read_json(self.path(run_id) / "status.json")
        except FileNotFoundError:
            return {"state": "unknown"}
        if status.get("state") == "running" and not self._writer_alive(status):
            status = {**status, "state": "interrupted", "recorded_state": "running"}
        return status

    def config(self, run_id: str) -> dict:
        raw = _read_json(self.path(run_id) / "config.json")
        return {k: v for k, v in raw.items() if k not in RUN_LABELS}

    def info(self, run_id: str) -> dict | None:
        try:
            return _read_json(self.path(run_id) / "info.json")
        except FileNotFoundError:
            return None

    def read_metrics(self, run_id: str) -> pd.DataFrame:
        data, _ = _read_complete(self.path(run_id) / "metrics.csv")
        header, _, rows = data.partition(b"\n")
        return _frame(rows, header.decode().split(",") if header else None)

    def last_metrics(self, run_id: str) -> dict | None:
        """Last metrics row as {column: value}, reading only the head and tail of metrics.csv."""
        path = self.path(run_id) / "metrics.csv"
        last = _last_line(path)
        if last is None or last[1]:  # no complete line, or only the header
            return None
        with open(path, "rb") as f:
            header = f.readline().decode().strip().split(",")
        return {c: _parse_value(v) for c, v in zip(header, last[0].decode().split(","))}

    def read_new(self, run_id: str, *, gates: str = "all") -> tuple[pd.DataFrame, list[dict]]:
        """(metrics rows, gate snapshots) appended since this reader's last call for run_id.

        gates="last" returns at most the newest of the new snapshots and reads only the file's tail:
        a live view needs just that, and a long run's gates.jsonl can hold tens of megabytes."""
        path = self.path(run_id)
        metrics_at, gates_at, header = self._offsets.get(run_id, (0, 0, None))
        data, metrics_at = _read_complete(path / "metrics.csv", metrics_at)
        if header is None and data:
            first, _, data = data.partition(b"\n")
            header = first.decode().split(",")
        if gates == "last":
            snapshots, gates_at = _newest_line(path / "gates.jsonl", gates_at)
        else:
            lines, gates_at = _read_complete(path / "gates.jsonl", gates_at)
            snapshots = _json_lines(lines)
        self._offsets[run_id] = (metrics_at, gates_at, header)
        return _frame(data, header), snapshots

    def reset(self, run_id: str | None = None) -> None:
        """Forget read_new positions (of one run, or all) so the next call starts from the top."""
        if run_id is None:
            self._offsets.clear()
        else:
            self._offsets.pop(run_id, None)

    def read_gates(self, run_id: str, last_only: bool = False) -> list[dict]:
        """All gate snapshots, or with last_only a list holding just the latest (empty before any)."""
        path = self.path(run_id) / "gates.jsonl"
        if last_only:
            last = _last_line(path)
            return _json_lines(last[0]) if last else []
        return _json_lines(_read_complete(path)[0])

    def read_events(self, run_id: str) -> list[dict]:
        return _json_lines(_read_complete(self.path(run_id) / "events.jsonl")[0])

    def _writer_alive(self, status: dict) -> bool:
        # same host: ask the OS about the pid (os.kill(pid, 0) would terminate the process on Windows)
        if status.get("hostname") == HOSTNAME and os.name != "nt":
            return _pid_alive(status.get("pid"))
        return time.time() - float(status.get("updated") or 0) < self.stale_after_s


def _timestamp(iso: str | None) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0
