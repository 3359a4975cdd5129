"""Export a recorded run as TensorBoard event files, so it opens with `tensorboard --logdir DIR`.

What a run folder (lfm/store/files.py) becomes, all at the step it was logged at:

    scalars   every metrics.csv column, grouped by tag prefix (SCALAR_TAGS): loss/train, loss/validation,
              entropy/routing, ..., expert_load/0..E-1; and events/lambda_change where lambda was changed
    hparams   the run's settings as hyperparameters and its final losses and entropies as metrics
              (HPARAM_METRICS), so TensorBoard's HParams tab compares runs exported into one folder
    images    the probe gates and the expert × regime matrix from gates.jsonl as heatmaps (lfm/store/png.py),
              at up to `max_images` evenly spaced log steps (the first and last among them)
    text      run/summary (id, name, outcome), run/provenance (lfm/store/provenance.py), run/events

TensorBoardLogger writes the same live, as a training callback (`python -m lfm train --tensorboard DIR`).

The files are written with torch.utils.tensorboard.SummaryWriter, which needs the `tensorboard` package
(`pip install tensorboard`, or the project's `tensorboard` extra); both are imported only when a run is
exported, so lfm.store keeps working without torch. Images are encoded here rather than by
SummaryWriter.add_image, which would need an imaging library (PIL) besides.
"""
from __future__ import annotations

import importlib.util
import io
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import provenance
from .files import rounded
from .png import heatmap_rgb, png_bytes
from .reader import RunReader


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None  # finds, imports nothing
    except ValueError:  # a module blocked with sys.modules[name] = None
        return False


# whether the export can work here (a page can grey out its button instead of failing on a click)
AVAILABLE = _installed("torch") and _installed("tensorboard")

# metrics.csv column -> TensorBoard tag; "step" is the x axis, load_<e> become expert_load/<e>
SCALAR_TAGS = {
    "loss": "loss/train", "total_loss": "loss/total", "val_loss": "loss/validation",
    "routing_entropy": "entropy/routing", "load_entropy": "entropy/load",
    "specialisation": "entropy/specialisation", "varentropy": "entropy/varentropy",
    "mi_regime": "entropy/mi_expert_regime",
    "lambda_entropy": "settings/lambda_entropy", "balance_coef": "settings/balance_coef",
    "epoch": "progress/epoch", "total_steps": "progress/total_steps",
    "time_s": "speed/time_s", "samples_per_s": "speed/samples_per_s",
}  # fmt: skip
LOAD_PREFIX = "load_"  # metrics.csv's per-expert load columns, load_0..load_{E-1}
LAMBDA_CHANGE_TAG = "events/lambda_change"
PROBE_IMAGE_TAG = "gates/probe"              # rows: experts, columns: probe windows (grouped by regime)
REGIME_IMAGE_TAG = "gates/expert_x_regime"   # rows: experts, columns: regimes
# the HParams tab's metrics: the final value of each of these scalars (those a run has)
HPARAM_METRICS = ("loss/validation", "loss/train", "entropy/routing", "entropy/load", "entropy/specialisation",
                  "entropy/mi_expert_regime")


class TensorBoardUnavailable(ImportError):
    """The export needs torch and the tensorboard package, and one of them is not installed."""


def scalar_tag(column: str) -> str | None:
    """The tag of a metrics.csv column, or None for the step column itself."""
    expert = column.removeprefix(LOAD_PREFIX)
    if column not in SCALAR_TAGS and expert.isdigit():  # load_entropy is a metric, load_3 an expert's load
        return f"expert_load/{expert}"
    return SCALAR_TAGS.get(column)


def hparam_values(config: dict) -> dict[str, Any]:
    """The run's settings as hparams: every field of both config files, under its own name.

    TensorBoard takes numbers, strings and booleans only: None becomes "none", anything else its text."""
    settings = {**config.get("hyperparameters", {}), **config.get("training", {})}
    return {k: v if isinstance(v, (bool, int, float, str)) else "none" if v is None else str(v)
            for k, v in settings.items()}


def snapshot_indices(count: int, wanted: int) -> list[int]:
    """Up to `wanted` evenly spaced indices of `count` items, always the first and last among them."""
    if count <= 0 or wanted <= 0:
        return []
    return sorted({round(i) for i in np.linspace(0, count - 1, min(count, wanted))})


def markdown_table(rows: list[tuple[str, Any]]) -> str:
    """TensorBoard's text plugin renders markdown: a two-column table reads best there."""
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def _summary_writer():
    """torch.utils.tensorboard.SummaryWriter, imported on first use with an actionable message if absent."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises this itself when the tensorboard package is missing
        raise TensorBoardUnavailable(
            "the TensorBoard export needs torch and the tensorboard package: pip install tensorboard "
            f"({exc})") from exc
    return SummaryWriter


class RunEvents:
    """One run's TensorBoard event file, written in this module's vocabulary (tags, images, hparams).

    Both the export of a recorded run (write_tensorboard) and the live logger (TensorBoardLogger) write
    through it, so a run reads the same in TensorBoard either way."""

    def __init__(self, log_dir: str | Path):
        SummaryWriter = _summary_writer()
        from tensorboard.compat.proto.summary_pb2 import Summary
        from torch.utils.tensorboard.summary import hparams

        self._summary, self._hparams = Summary, hparams  # proto class and builder, imported only here
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.tags: set[str] = set()  # scalar tags written so far: the hparams metrics are among these

    def metrics(self, row: dict, step: int) -> None:
        """One metrics row ({column: value}) as scalars at `step`; None and NaN (not logged) are skipped."""
        for column, value in row.items():
            tag = scalar_tag(column)
            if tag is not None and value is not None and not math.isnan(value):
                self.writer.add_scalar(tag, float(value), step)
                self.tags.add(tag)

    def lambda_change(self, step: int, value: float) -> None:
        self.writer.add_scalar(LAMBDA_CHANGE_TAG, float(value), step)

    def gates(self, snapshot: dict, step: int) -> None:
        """A gates.jsonl snapshot's probe gates (N, E) and expert × regime matrix (E, K) as heatmaps,
        both drawn with experts as rows. Values are rounded as gates.jsonl stores them, so a live log
        and a later export of the same run draw identical images."""
        snapshot = {key: rounded(snapshot.get(key)) for key in ("probe_gates", "regime_matrix")}
        if snapshot.get("probe_gates"):
            self._image(PROBE_IMAGE_TAG, np.asarray(snapshot["probe_gates"], dtype=float).T, step)  # (E, N)
        if snapshot.get("regime_matrix"):
            self._image(REGIME_IMAGE_TAG, np.asarray(snapshot["regime_matrix"], dtype=float), step)  # (E, K)

    def hparams(self, config: dict) -> None:
        """The settings as hparams; as metrics the scalars written whose last value is the run's final one
        (the HParams tab reads those values from the scalars themselves, so none are passed here)."""
        metric_names = {tag: 0.0 for tag in HPARAM_METRICS if tag in self.tags}
        for item in self._hparams(hparam_values(config), metric_names):
            self.writer.file_writer.add_summary(item)

    def text(self, tag: str, rows: list[tuple[str, Any]], step: int = 0) -> None:
        self.writer.add_text(tag, markdown_table(rows), step)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> RunEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _image(self, tag: str, values: np.ndarray, step: int) -> None:
        # SummaryWriter.add_image would need PIL to encode: the PNG comes from lfm/store/png.py instead
        rgb = heatmap_rgb(values)  # (8H, 8W, 3)
        image = self._summary.Image(height=rgb.shape[0], width=rgb.shape[1], colorspace=3,
                                    encoded_image_string=png_bytes(rgb))
        self.writer.file_writer.add_summary(self._summary(value=[self._summary.Value(tag=tag, image=image)]), step)


def image_caption(regime_names: list[str] | None) -> tuple[str, str]:
    """How to read the gate images, as a row of the run/summary text."""
    regimes = ", ".join(regime_names or []) or "none"
    return ("gate images", "rows are experts; columns are the probe windows (gates/probe) or the regimes "
                           f"({regimes}) (gates/expert_x_regime); viridis, 0 dark to 1 yellow")


def write_tensorboard(reader: RunReader, run_id: str, log_dir: str | Path, *, max_images: int = 10) -> list[Path]:
    """Write run_id's scalars, hparams, gate images and text into log_dir; return the event files written.

    log_dir is TensorBoard's folder for one run: exporting several runs into log_dir/<run_id> each lets
    one `tensorboard --logdir log_dir` compare them."""
    log_dir = Path(log_dir)
    config, summary = reader.config(run_id), reader.summary(run_id)
    metrics = reader.read_metrics(run_id)  # complete rows only
    events = reader.read_events(run_id)
    gates = reader.read_gates(run_id)
    info = reader.info(run_id) or {}
    facts = provenance.read(reader.path(run_id))
    before = set(log_dir.glob("events.out.tfevents.*"))

    with RunEvents(log_dir) as out:
        # 1. scalars: each column at its step
        for row in metrics.to_dict("records"):
            out.metrics(row, int(row["step"]))
        # 2. events: a lambda change as a scalar at its step; every event as a line of text
        for event in events:
            if event.get("kind") == "lambda_change" and event.get("value") is not None:
                out.lambda_change(int(event.get("step") or 0), event["value"])
        if events:
            out.text("run/events", [(f"step {e.get('step')}", f"{e.get('kind')}: {e.get('value', '')}")
                                    for e in events])
        # 3. hparams: the settings, and the final losses and entropies
        out.hparams(config)
        # 4. gate heatmaps at evenly spaced log steps
        for index in snapshot_indices(len(gates), max_images):
            out.gates(gates[index], int(gates[index].get("step") or 0))
        # 5. text: what the run is, what produced it, and how to read the images
        out.text("run/summary", [
            ("run", run_id), ("name", summary.name or ""), ("state", summary.state),
            ("reason", summary.status.get("reason", "")), ("created", summary.created or ""),
            image_caption(info.get("regime_names")),
        ])
        if facts is not None:
            out.text("run/provenance", provenance.describe(facts))
    return sorted(set(log_dir.glob("events.out.tfevents.*")) - before)


def tensorboard_zip_name(run_id: str) -> str:
    return f"{run_id}-tensorboard.zip"


def tensorboard_zip(reader: RunReader, run_id: str) -> bytes:
    """The run's event files zipped in a folder named after the run: unzip, then `tensorboard --logdir .`."""
    with tempfile.TemporaryDirectory() as folder:
        written = write_tensorboard(reader, run_id, Path(folder) / run_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, f"{run_id}/{path.name}")
        return buffer.getvalue()


class TensorBoardLogger:
    """Training callback writing a run to TensorBoard while it trains (`python -m lfm train --tensorboard DIR`).

    It writes what write_tensorboard exports afterwards, from the loop's records instead of the run
    folder: the scalars at every log step, lambda changes as they happen, the gate heatmaps at the same
    evenly spaced log steps (and, for a run that ends early, its last), and at the end the hparams.
    run_dir, when given, is the run's folder, whose provenance.json is added as text at the start."""

    def __init__(self, log_dir: str | Path, config: dict, *, run_dir: str | Path | None = None,
                 max_images: int = 10):
        self.config = config            # the RunConfig dict: the hparams
        self.run_dir = run_dir          # the run store folder of this run, for its provenance
        self.max_images = max_images
        self.events = RunEvents(log_dir)  # raises TensorBoardUnavailable before any training starts
        self.image_at: set[int] = set()  # indices of the log records drawn as heatmaps
        self.records = 0                # log records seen
        self.last: dict | None = None   # the latest record, for the final heatmap

    def on_train_start(self, info: dict) -> None:
        # the loop logs every log_every steps and once more at the end of a partial interval
        log_every = int(self.config.get("training", {}).get("log_every") or 1)
        logs = math.ceil(int(info.get("total_steps") or 0) / log_every)
        self.image_at = set(snapshot_indices(logs, self.max_images))
        facts = provenance.read(self.run_dir) if self.run_dir is not None else None
        if facts is not None:
            self.events.text("run/provenance", provenance.describe(facts))
        self.events.text("run/summary", [image_caption(info.get("regime_names"))])

    def on_step_end(self, record: dict) -> None:
        step = int(record["step"])
        loads = {f"{LOAD_PREFIX}{e}": value for e, value in enumerate(record.get("expert_load") or ())}
        self.events.metrics({**{c: record.get(c) for c in SCALAR_TAGS}, **loads}, step)
        if self.records in self.image_at:
            self.events.gates(record, step)
        self.records += 1
        self.last = record

    def on_lambda_change(self, change: dict) -> None:
        self.events.lambda_change(int(change["step"]), change["value"])

    def on_train_end(self, result, model=None) -> None:
        if self.last is not None and self.records - 1 not in self.image_at:  # ended early: draw where it ended
            self.events.gates(self.last, int(self.last["step"]))
        self.events.hparams(self.config)
        self.events.close()
