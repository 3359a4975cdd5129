"""What a worker runs: one run, from plain data to a run folder, in whatever process it lands in.

The process and Ray backends send a RunSpec (plain, picklable data: no tensors, no open files) to a
worker; the worker prepares the data and the model, trains, and writes the run folder straight into the
runs folder (an absolute path: on a cluster, storage every node mounts at the same place). Nothing but
the small RunOutcome travels back; the run folder is the contract between the worker and every view.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import NamedTuple


class RunSpec(NamedTuple):
    config: dict            # RunConfig.to_dict()
    runs_dir: str           # absolute path of the runs folder
    name: str | None        # the run's name (kept verbatim in config.json)
    meta: dict              # grouping labels for config.json, e.g. {"group": "sweep-3f2a"}
    torch_threads: int = 1  # torch's intra-op threads in this worker
    backend: str = "process"  # recorded with the run: who trained it


class RunOutcome(NamedTuple):
    run_id: str | None      # None when the run failed before its folder was made
    status: str             # a RunState value: finished, stopped, diverged or failed
    reason: str             # one line for people
    steps: int
    pid: int                # the worker process that trained it
    host: str               # its host name
    node: str = ""          # the Ray node it ran on (ray backend), else ""


def ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the process that started them: a Ctrl-C in the terminal reaches every
    process of its group, and the sweep stops its runs through their control files instead, so each
    one ends "stopped", with its checkpoint, rather than killed mid-write."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def train_one(spec: RunSpec) -> RunOutcome:
    """Prepare, train and record one run; never raises for a run that fails (the outcome says why)."""
    import socket

    import torch

    from lfm.config import RunConfig
    from lfm.store.schema import RunState
    from lfm.training.experiment import execute, prepare_run

    torch.set_num_threads(max(1, spec.torch_threads))
    host = socket.gethostname()
    try:
        run = prepare_run(RunConfig.from_dict(spec.config), Path(spec.runs_dir), name=spec.name,
                          meta=dict(spec.meta, backend=spec.backend))
    except (ValueError, OSError) as exc:  # bad data or settings: nothing was written
        return RunOutcome(None, str(RunState.FAILED), f"could not prepare the run: {exc}", 0, os.getpid(), host)
    result = execute(run, backend=spec.backend)  # recorded in the run's provenance.json
    return RunOutcome(run.run_id, str(result.status), result.reason, result.steps, os.getpid(), host)
