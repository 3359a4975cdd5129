"""Export a recorded run as TensorBoard event files, so it opens with `tensorboard --logdir DIR`.

What a run folder (lfm/store/files.py) becomes, all at the step it was logged at:

    scalars   every metrics.csv column, grouped by tag prefix (SCALAR_TAGS): loss/train, loss/validation,
              entropy/routing, ..., expert_load/0..E-1; and events/lambda_change where lambda was changed
    hparams   the run's settings as hyperparameters and its final losses and entropies as metrics
              (HPARAM_METRICS), so TensorBoard's HParams tab compares runs exported into one folder
    images    the probe gates and the expert × regime matrix from gates.jsonl as heatmaps (lfm/store/png.py),
              at up to `max_images` evenly spaced log steps (the first and last among them)
    text      run/summary (id, name, outcome), run/provenance (lfm/store/provenance.py), run/events

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
from .png import heatmap_rgb, png_bytes
from .reader import RunReader

# whether the export can work here, found without importing anything (a page can grey out its button)
AVAILABLE = all(importlib.util.find_spec(m) is not None for m in ("torch", "tensorboard"))
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


def write_tensorboard(reader: RunReader, run_id: str, log_dir: str | Path, *, max_images: int = 10) -> list[Path]:
    """Write run_id's scalars, hparams, gate images and text into log_dir; return the event files written.

    log_dir is TensorBoard's folder for one run: exporting several runs into log_dir/<run_id> each lets
    one `tensorboard --logdir log_dir` compare them."""
    SummaryWriter = _summary_writer()
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard.summary import hparams

    log_dir = Path(log_dir)
    config, summary = reader.config(run_id), reader.summary(run_id)
    metrics = reader.read_metrics(run_id)  # complete rows only
    events = reader.read_events(run_id)
    gates = reader.read_gates(run_id)
    info = reader.info(run_id) or {}
    facts = provenance.read(reader.path(run_id))
    before = set(log_dir.glob("events.out.tfevents.*"))

    with SummaryWriter(log_dir=str(log_dir)) as writer:
        files = writer.file_writer  # the raw event writer, for summaries SummaryWriter has no method for

        # 1. scalars: each column at its step; empty cells (e.g. val_loss between epochs) are skipped
        tags = {c: scalar_tag(c) for c in metrics.columns if scalar_tag(c)}
        for row in metrics.to_dict("records"):
            for column, tag in tags.items():
                if row[column] is not None and not math.isnan(row[column]):
                    writer.add_scalar(tag, float(row[column]), int(row["step"]))

        # 2. events: a lambda change as a scalar at its step; every event as a line of text
        for event in events:
            if event.get("kind") == "lambda_change" and event.get("value") is not None:
                writer.add_scalar(LAMBDA_CHANGE_TAG, float(event["value"]), int(event.get("step") or 0))
        if events:
            writer.add_text("run/events", markdown_table(
                [(f"step {e.get('step')}", f"{e.get('kind')}: {e.get('value', '')}") for e in events]), 0)

        # 3. hparams: settings, and as metrics the scalars above whose last value is the run's final one
        present = set(tags.values())
        metric_names = {tag: 0.0 for tag in HPARAM_METRICS if tag in present}  # values are read from the scalars
        for item in hparams(hparam_values(config), metric_names):
            files.add_summary(item)

        # 4. gate heatmaps at evenly spaced log steps
        for index in snapshot_indices(len(gates), max_images):
            snapshot = gates[index]
            step = int(snapshot.get("step") or 0)
            if snapshot.get("probe_gates"):
                image = _image(Summary, np.asarray(snapshot["probe_gates"], dtype=float).T)  # (E, N)
                files.add_summary(Summary(value=[Summary.Value(tag=PROBE_IMAGE_TAG, image=image)]), step)
            if snapshot.get("regime_matrix"):
                image = _image(Summary, np.asarray(snapshot["regime_matrix"], dtype=float))  # (E, K)
                files.add_summary(Summary(value=[Summary.Value(tag=REGIME_IMAGE_TAG, image=image)]), step)

        # 5. text: what the run is, what produced it, and how to read the images
        regimes = ", ".join(info.get("regime_names") or []) or "none"
        writer.add_text("run/summary", markdown_table([
            ("run", run_id), ("name", summary.name or ""), ("state", summary.state),
            ("reason", summary.status.get("reason", "")), ("created", summary.created or ""),
            ("gate images", "rows are experts; columns are the probe windows (gates/probe) or the regimes "
                            f"({regimes}) (gates/expert_x_regime); viridis, 0 dark to 1 yellow"),
        ]), 0)
        if facts is not None:
            writer.add_text("run/provenance", markdown_table(provenance.describe(facts)), 0)
    return sorted(set(log_dir.glob("events.out.tfevents.*")) - before)


def _image(Summary, values: np.ndarray):
    """A TensorBoard image summary of an (H, W) matrix of probabilities, as a viridis PNG."""
    rgb = heatmap_rgb(values)  # (8H, 8W, 3)
    return Summary.Image(height=rgb.shape[0], width=rgb.shape[1], colorspace=3, encoded_image_string=png_bytes(rgb))


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
