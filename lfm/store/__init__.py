"""The run store: one folder per run under runs/, the single source of truth every view reads.

files (layout, ids, atomic writes), schema (column and file names), writer (RunWriter, a training
callback), reader (RunReader), damage (RunDamaged: a file of a run that cannot be read, and the checks that
find it), checkpoint (the only module here that imports torch), results (final
metrics and curves of many runs), seeds (runs that differ only in their seed, as a mean and a band), export (a run's files for download), provenance (what produced a run),
tensorboard (a run as TensorBoard event files; torch and tensorboard imported only when used) with png
(heatmaps as PNG), watch (file-system events),
snapshots (gates.jsonl indexed by step, for replays).
Importing lfm.store needs pandas, not torch.
"""
from .damage import RunDamaged
from .files import run_path, slugify
from .reader import RunReader, RunSummary
from .schema import CHECKPOINT_KEYS, METRIC_COLUMNS
from .writer import RunWriter

__all__ = ["RunDamaged", "RunReader", "RunSummary", "RunWriter", "run_path", "slugify", "METRIC_COLUMNS", "CHECKPOINT_KEYS"]
