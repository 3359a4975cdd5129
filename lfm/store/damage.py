"""RunDamaged, and the checks that tell a damaged run file from a good one.

A run folder is written by this package, but read from wherever it lives: a shared runs folder, a
copy, a disk that filled up, a hand edit. A file that parses but holds the wrong thing (a list where an
object belongs, text in the step column, a row with a field too many) would otherwise surface as a
KeyError or TypeError deep inside a page. Each reader of lfm.store parses, then checks here, and a file
that fails raises one named error saying which file and what is wrong with it:

    RunDamaged("metrics.csv", "line 7 has 12 fields, the header 11")

The layout checked is the one lfm/store/files.py describes and lfm/store/writer.py writes. Checks are
linear in the data and never more than the parse itself costs. Torch-free, UI-free.
"""
from __future__ import annotations

import io
import json
import math
from typing import Any, Mapping

import pandas as pd

from .schema import LOAD_PREFIX, METRIC_COLUMNS, PAUSED_FLAG, Metric, load_column


class RunDamaged(ValueError):
    """A file of a run folder that cannot be read as what it should hold.

    file: its name inside the run folder ("metrics.csv"); what: what is wrong, as a sentence fragment.
    A ValueError, so code that already treats a bad value as "cannot read this run" keeps doing so."""

    def __init__(self, file: str, what: str):
        super().__init__(f"{file}: {what}")
        self.file = file
        self.what = what


def _shown(value: Any, limit: int = 40) -> str:
    """A short repr of a bad value for a message: a huge line must not become a huge message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


# ---- JSON -------------------------------------------------------------------------------------------

def parse_json(data: bytes, file: str, where: str = "") -> Any:
    """The JSON value of data; RunDamaged for an empty file, binary data or text that is not JSON.

    where: "line 3: " for a line of a JSON-lines file, "" for a whole file."""
    if not data.strip():
        raise RunDamaged(file, f"{where}empty" if not where else f"{where}blank")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunDamaged(file, f"{where}not text (binary data)") from None
    except RecursionError:
        raise RunDamaged(file, f"{where}JSON nested too deep") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise RunDamaged(file, f"{where}not JSON ({str(exc).split(':')[0]})") from None


def json_object(value: Any, file: str, where: str = "") -> dict:
    """value itself when it is a JSON object; RunDamaged saying what it is otherwise."""
    if not isinstance(value, dict):
        raise RunDamaged(file, f"{where}holds {_kind(value)}, not a JSON object")
    return value


def _field(record: Mapping, key: str, kinds: tuple[type, ...], file: str, what: str, where: str = "",
           required: bool = False) -> Any:
    """record[key] when it is of one of `kinds` (or null/absent, unless required); RunDamaged otherwise.

    A bool is not accepted as a number: JSON's true is no count of steps."""
    value = record.get(key)
    if value is None:
        if required:
            raise RunDamaged(file, f"{where}no \"{key}\" ({what})")
        return None
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return value
    raise RunDamaged(file, f"{where}\"{key}\" ({what}) is {_kind(value)} {_shown(value)}")


NUMBER = (int, float)


def check_config(record: Any) -> dict:
    """config.json: an object whose "hyperparameters" and "training" are objects (the settings inside are
    judged by lfm.config.settings_of, which reads what it can)."""
    record = json_object(record, "config.json")
    for group in ("hyperparameters", "training"):
        _field(record, group, (dict,), "config.json", "a group of settings")
    meta = _field(record, "meta", (dict,), "config.json", "labels") or {}
    for label in ("group", "task"):  # a sweep's id and a job's token: compared and used as keys
        _field(meta, label, (str,), "config.json", f"the run's {label} label", "meta: ")
    _field(record, "name", (str,), "config.json", "the run's name")
    _field(record, "created", (str,), "config.json", "when the run was made")
    return record


def check_status(record: Any) -> dict:
    """status.json: an object whose state, heartbeat, pid and counts have their types."""
    record = json_object(record, "status.json")
    for key, kinds, what in (("state", (str,), "the run's state"), ("reason", (str,), "why it ended"),
                             ("hostname", (str,), "the writer's host"), ("pid", (int,), "the writer's process"),
                             ("updated", NUMBER, "the heartbeat"), ("step", (int,), "steps taken"),
                             ("total_steps", (int,), "steps planned"), ("started", (str,), "start time"),
                             ("ended", (str,), "end time"), (PAUSED_FLAG, (bool,), "paused flag")):
        _field(record, key, kinds, "status.json", what)
    if not math.isfinite(float(record.get("updated") or 0)):
        raise RunDamaged("status.json", f"\"updated\" (the heartbeat) is {_shown(record['updated'])}")
    return record


def check_info(record: Any) -> dict:
    """info.json: an object with a positive whole num_experts and lists of names."""
    record = json_object(record, "info.json")
    experts = _field(record, "num_experts", (int,), "info.json", "the number of experts")
    if experts is not None and experts < 1:
        raise RunDamaged("info.json", f"\"num_experts\" is {experts}, not a positive count")
    total = _field(record, "total_steps", (int,), "info.json", "steps planned")
    if total is not None and total < 0:
        raise RunDamaged("info.json", f"\"total_steps\" is {total}, a negative count")
    for key in ("regime_names", "probe_labels"):
        names = _field(record, key, (list,), "info.json", "a list of labels")
        if names is not None and not all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in names):
            raise RunDamaged("info.json", f"\"{key}\" holds something other than labels")
    return record


def check_experts(info: Mapping | None, header: list[str] | None) -> None:
    """info.json's num_experts agrees with metrics.csv's load_ columns (when both say something)."""
    if not info or info.get("num_experts") is None or not header:
        return
    loads = len(load_columns(header))
    if loads and loads != info["num_experts"]:
        raise RunDamaged("info.json", f"\"num_experts\" is {info['num_experts']}, but metrics.csv has "
                                      f"{loads} load_ columns")


def _matrix(value: Any, file: str, key: str, where: str) -> tuple[int, int] | None:
    """The (rows, columns) of a rectangular list of lists of numbers (null allowed: no snapshot)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise RunDamaged(file, f"{where}\"{key}\" is {_kind(value)}, not a list of rows")
    widths = {len(row) for row in value}
    if len(widths) > 1:
        raise RunDamaged(file, f"{where}\"{key}\" has rows of {sorted(widths)} values")
    if not all(isinstance(x, NUMBER) and not isinstance(x, bool) for row in value for x in row):
        raise RunDamaged(file, f"{where}\"{key}\" holds something other than numbers")
    return len(value), widths.pop() if widths else 0


def check_snapshot(record: Any, where: str = "") -> dict:
    """A gates.jsonl line: {"step": int, "probe_gates": (P, E) or null, "regime_matrix": (E, K) or null}."""
    record = json_object(record, "gates.jsonl", where)
    _field(record, "step", (int,), "gates.jsonl", "the training step", where, required=True)
    probe = _matrix(record.get("probe_gates"), "gates.jsonl", "probe_gates", where)  # (P, E)
    matrix = _matrix(record.get("regime_matrix"), "gates.jsonl", "regime_matrix", where)  # (E, K)
    if probe and matrix and probe[1] != matrix[0]:
        raise RunDamaged("gates.jsonl", f"{where}probe_gates has {probe[1]} experts, regime_matrix {matrix[0]}")
    return record


def check_event(record: Any, where: str = "") -> dict:
    """An events.jsonl line: {"step": int, "kind": str, ...}; a lambda change has a numeric "value"."""
    record = json_object(record, "events.jsonl", where)
    _field(record, "step", (int,), "events.jsonl", "the training step", where, required=True)
    kind = _field(record, "kind", (str,), "events.jsonl", "what happened", where)
    if kind in (None, "lambda_change"):
        _field(record, "value", NUMBER, "events.jsonl", "the new λ", where, required=True)
    return record


def json_records(data: bytes, file: str, check, first_line: int | None = 1) -> list[dict]:
    """The checked records of complete JSON lines (blank lines skipped). first_line: the file's line number
    of data's first line, for messages; None when it is unknown (a line read off the file's tail)."""
    records = []
    lines = data.split(b"\n")
    for k, line in enumerate(lines[:-1] if data.endswith(b"\n") else lines):
        if line.strip():
            where = f"line {first_line + k}: " if first_line is not None else "a line near the end: "
            records.append(check(parse_json(line, file, where), where))
    return records


# ---- metrics.csv ------------------------------------------------------------------------------------

# The metrics.csv columns a run must have: the pages chart each of them. Every run folder written so far
# has all of METRIC_COLUMNS; a column added to METRICS later is absent from older runs, so it must not be
# added here (docs/architecture.md, "Changing the run folder"), and the pages must do without it.
REQUIRED_COLUMNS = METRIC_COLUMNS


def load_columns(names: list[str]) -> list[str]:
    """The per-expert columns among metrics.csv's names: load_0, load_1, ... (not load_entropy)."""
    return [c for c in names if c.startswith(LOAD_PREFIX) and c[len(LOAD_PREFIX):].isdigit()]


def check_header(line: bytes) -> list[str]:
    """metrics.csv's column names: text, unique, every metric column, and load_0..load_{E-1} in order."""
    try:
        names = line.decode("utf-8").strip().split(",")
    except UnicodeDecodeError:
        raise RunDamaged("metrics.csv", "not text (binary data)") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise RunDamaged("metrics.csv", f"line 1 (the header) lacks the column(s) {', '.join(missing)[:80]}")
    if len(set(names)) != len(names) or "" in names:
        raise RunDamaged("metrics.csv", "line 1 (the header) repeats a column or leaves one unnamed")
    loads = load_columns(names)
    if loads != [load_column(e) for e in range(len(loads))]:
        raise RunDamaged("metrics.csv", f"line 1 (the header) has load columns {_shown(loads)}, "
                                        f"not load_0..load_{len(loads) - 1}")
    return names


def check_rows(rows: bytes, names: list[str], first_line: int) -> pd.DataFrame:
    """The complete metrics rows (no header) as a DataFrame under names, each row checked: as many fields
    as the header, every cell a number or empty, and a whole number in the step column.

    first_line: the file's line number of rows' first line (2 right after the header), for messages."""
    if not rows.strip():  # typed empty frame, so pd.concat with later rows keeps float columns
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in names})
    try:
        text = rows.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + rows[:exc.start].count(b"\n")
        raise RunDamaged("metrics.csv", f"line {line} is not text (binary data)") from None
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    expected = len(names) - 1  # commas
    for number, line in enumerate(lines, start=first_line):
        if line and line.count(",") != expected:  # an empty line is skipped, as pandas does
            raise RunDamaged("metrics.csv", f"line {number} has {line.count(',') + 1} fields, the header "
                                            f"{len(names)}")
    frame = pd.read_csv(io.StringIO(text), names=names, header=None)
    numbered = [n for n, line in enumerate(lines, start=first_line) if line]  # the file's line of each row
    for name in names:
        cells = frame[name]
        if cells.dtype.kind in "iuf":
            continue
        # text (or true/false) in a numeric column: find the first cell that is no number
        values = pd.to_numeric(cells, errors="coerce") if cells.dtype.kind == "O" else cells.where(False)
        bad = (values.isna() & cells.notna()).to_numpy()
        if not bad.any():  # numbers after all (e.g. padded with spaces)
            frame[name] = values
            continue
        row = int(bad.argmax())
        raise RunDamaged("metrics.csv", f"line {numbered[row]}: {name} is {_shown(cells.iloc[row])}, not a number")
    steps = frame[Metric.STEP]
    whole = (steps.notna() & (steps == steps.round())).to_numpy()
    if not whole.all():
        row = int((~whole).argmax())
        raise RunDamaged("metrics.csv", f"line {numbered[row]}: step is {_shown(steps.iloc[row])}, "
                                        "not a whole number")
    frame[Metric.STEP] = steps.astype("int64")
    return frame
