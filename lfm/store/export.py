"""Export a run as files people can use elsewhere: what the Runs page's download buttons hand out.

    <run_id>-metrics.csv     every logged step (lfm.store.schema.METRIC_COLUMNS, then load_0..load_{E-1});
                             opens in pandas or a spreadsheet (for TensorBoard, which reads only its own
                             event files, see lfm/store/tensorboard.py)
    hyperparameters.json     the run's settings as the seed's two files, written by
    training.json            lfm.config.save_run_config, so `python -m lfm train --hyperparameters
                             hyperparameters.json --training training.json` trains the same run again
    <run_id>-provenance.json what produced the run: versions, git revision, device, host
                             (lfm/store/provenance.py); runs recorded before it existed have none
    <run_id>-checkpoint.pt   the weights, loadable with torch.load(weights_only=True); only once the
                             run has ended (lfm.store writes it then)

The config files keep their exact names because the CLI, like the seed, reads ./hyperparameters.json and
./training.json by default; the others carry the run id so downloads of several runs do not collide.
Each file has its own function, so a page can build one only when its button is pressed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lfm.config import RunConfig, save_run_config

from . import provenance
from .files import is_plain_file, read_bytes
from .reader import RunReader

CONFIG_FILES = ("hyperparameters.json", "training.json")


def metrics_file_name(run_id: str) -> str:
    return f"{run_id}-metrics.csv"


def provenance_file_name(run_id: str) -> str:
    return f"{run_id}-provenance.json"


def checkpoint_file_name(run_id: str) -> str:
    return f"{run_id}-checkpoint.pt"


def metrics_csv(reader: RunReader, run_id: str) -> bytes:
    """metrics.csv as pandas reads it: complete rows only, so a running run's half-written line is left out."""
    return reader.read_metrics(run_id).to_csv(index=False).encode("utf-8")


def config_files(config: dict | RunConfig) -> dict[str, bytes]:
    """{"hyperparameters.json": ..., "training.json": ...} in the seed's format.

    config is a RunConfig or its dict (a run's config.json); ConfigError if it does not validate.
    The bytes come from save_run_config itself, the one writer of these files, so they cannot drift."""
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    with tempfile.TemporaryDirectory() as folder:
        paths = save_run_config(cfg, folder)
        return {path.name: path.read_bytes() for path in paths}


def provenance_json(reader: RunReader, run_id: str) -> bytes | None:
    """The run's provenance.json as written, or None for a run that has none."""
    path = reader.path(run_id) / provenance.FILE_NAME
    return path.read_bytes() if path.is_file() else None


def checkpoint_path(reader: RunReader, run_id: str) -> Path | None:
    """The run's checkpoint.pt, or None while the run has none (still training, or it failed early).

    A checkpoint.pt that is a link (say to a system file) counts as none: a download serves only files
    the run itself wrote (lfm.store.files.open_file)."""
    path = reader.path(run_id) / "checkpoint.pt"
    return path if is_plain_file(path) else None


def checkpoint_bytes(reader: RunReader, run_id: str) -> bytes | None:
    """The checkpoint's bytes, read without following links; None when the run has no checkpoint."""
    path = checkpoint_path(reader, run_id)
    return read_bytes(path) if path else None


def export_files(reader: RunReader, run_id: str) -> dict[str, bytes]:
    """Every export of a run by download file name; provenance and checkpoint only when the run has them."""
    files = {metrics_file_name(run_id): metrics_csv(reader, run_id), **config_files(reader.config(run_id))}
    facts = provenance_json(reader, run_id)
    if facts is not None:
        files[provenance_file_name(run_id)] = facts
    checkpoint = checkpoint_bytes(reader, run_id)
    if checkpoint is not None:
        files[checkpoint_file_name(run_id)] = checkpoint
    return files
