"""What a run ended with: one row of final numbers per run, and the curves of several runs side by side.

The Compare and Sweep pages ask the same two questions of the run store, and this module answers them
for both (and for scripts such as bench/bench_sweep.py):
  * final_metrics / results_table: the last logged value of every metric (lfm/nn/entropy.py defines the three
    entropies), the dead experts, the run's length, and the settings that tell runs apart (lambda,
    balance, seed, data set, sweep group);
  * curves: the logged metrics of several runs stacked into one long table, labelled by run and lambda.

A run still training has "final" numbers too: its latest ones. Nothing here draws or imports a UI.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from .reader import RunReader
from .schema import BITS_METRICS, LOSS_METRICS, METRICS, Metric, RunState, load_column

DEAD_SHARE = 0.1  # an expert is "dead" below this fraction of the equal share 1/E of the load

# Column -> what it holds, in table order (what tells runs apart and what they ended with first; the
# bookkeeping last); the pages show the text as column help.
# The metrics whose last logged value is the run's final one (val_loss is found apart: see final_metrics).
FINAL_METRICS = (Metric.LOSS, *BITS_METRICS)
RESULT_COLUMNS = {
    "name": "the run's name",
    Metric.LAMBDA_ENTROPY: "λ the run was started with (weight of the routing entropy in the loss)",
    Metric.BALANCE_COEF: METRICS[Metric.BALANCE_COEF].description,
    "seed": "random seed of data, initialisation and shuffling",
    "state": ", ".join(RunState) + ": where the run stands",
    Metric.VAL_LOSS: "final " + METRICS[Metric.VAL_LOSS].description,
    **{name: METRICS[name].description for name in BITS_METRICS},
    "dead_experts": f"experts with under {DEAD_SHARE:.0%} of the equal share 1/E of the load",
    Metric.LOSS: "final " + METRICS[Metric.LOSS].description,
    "steps": METRICS[Metric.STEP].description,
    "train_time_s": METRICS[Metric.TIME_S].description,
    "dataset": "the data set it trained on",
    "num_experts": "experts the gate chooses among (E); every entropy is at most log2(E) bits",
    "lambda_changed": "λ was changed while it trained, so its final numbers mix two λ",
    "group": "the sweep (or other group) the run belongs to, if any",
    "run_id": "folder name in the run store",
}


def dead_experts(expert_load: Iterable[float], threshold: float | None = None) -> list[int]:
    """Indices of the experts whose share of the load is under threshold (default DEAD_SHARE / E).

    expert_load: (E,) mean gate probability per expert, in any scale (it is normalised to shares);
    NaN and negative entries count as 0. A dead expert hardly receives input, so it hardly learns.
    """
    load = np.clip(np.nan_to_num(np.asarray(list(expert_load), dtype=float)), 0.0, None)  # (E,)
    if load.size == 0:
        return []
    total = load.sum()
    shares = load / total if total > 0 else load  # all zero: every expert is dead
    limit = DEAD_SHARE / load.size if threshold is None else threshold
    return [e for e, share in enumerate(shares) if share < limit]


def _number(value) -> float:
    """A metrics cell as a float: None (an empty cell) -> NaN."""
    return math.nan if value is None else float(value)


def _lambda_changed(reader: RunReader, run_id: str, settings, last: dict) -> bool:
    """Whether λ was changed while the run trained (λ while training, `lfm control --lambda`)."""
    lam = settings["lambda_entropy"]
    if not last or lam is None:
        return False
    same = lambda value: math.isclose(_number(value), lam, rel_tol=1e-9, abs_tol=1e-12)  # noqa: E731
    if settings["lambda_schedule"] in (None, "constant"):
        # the last row holds the λ in force then; a change mid-run makes it differ from the config's
        return not same(last.get(Metric.LAMBDA_ENTROPY, lam))
    # with a schedule the rows hold λ x the schedule's factor: the changes themselves are in events.jsonl
    return any(e.get("kind") == "lambda_change" and not same(e.get("value"))
               for e in reader.read_events(run_id))


def final_metrics(reader: RunReader, run_id: str) -> dict:
    """One run's final numbers, keyed as RESULT_COLUMNS; NaN where the run has not logged a value yet.

    RunDamaged when a file of the run cannot be read: half-read numbers would pass for the run's own."""
    summary = reader.summary(run_id)
    if summary.damage is not None:
        raise summary.damage
    settings = summary.settings
    last = summary.last_metrics or {}
    lam = settings["lambda_entropy"]
    val_loss = last.get(Metric.VAL_LOSS)
    if val_loss is None and last:
        # validation runs once an epoch and at the end: a run mid-epoch has it on an earlier row
        logged = reader.read_metrics(run_id).get(Metric.VAL_LOSS, pd.Series(dtype=float)).dropna()
        val_loss = logged.iloc[-1] if len(logged) else None
    num_experts = settings["num_experts"]
    loads = [last.get(load_column(e)) for e in range(num_experts or 0)]
    return {
        "run_id": run_id,
        "name": summary.name,
        "group": summary.meta.get("group"),
        "state": summary.state,
        "dataset": settings["dataset"],
        Metric.LAMBDA_ENTROPY: _number(lam),
        "lambda_changed": _lambda_changed(reader, run_id, settings, last),
        Metric.BALANCE_COEF: _number(settings["balance_coef"]),
        "seed": settings["seed"],
        "num_experts": num_experts,
        "steps": last.get(Metric.STEP),
        "train_time_s": _number(last.get(Metric.TIME_S)),
        Metric.VAL_LOSS: _number(val_loss),
        **{name: _number(last.get(name)) for name in FINAL_METRICS},
        "dead_experts": len(dead_experts(loads)) if last and loads and None not in loads else None,
    }


def results_table(reader: RunReader, run_ids: Iterable[str]) -> pd.DataFrame:
    """final_metrics of each run, one row per run in the given order, columns as RESULT_COLUMNS.

    Runs that vanished from the store meanwhile, or whose files are damaged, are left out: a page learns
    which from RunSummary.problem (list_runs) and says so."""
    rows = []
    for run_id in run_ids:
        try:
            rows.append(final_metrics(reader, run_id))
        except (OSError, ValueError):
            continue
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    # nullable integers: an unfinished run's missing step count must not turn the column into floats
    for column in ("seed", "num_experts", "steps", "dead_experts"):
        table[column] = table[column].astype("Int64")
    return table


CURVE_COLUMNS = (*LOSS_METRICS, *BITS_METRICS)


def curves(reader: RunReader, run_ids: Iterable[str], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The logged metrics of several runs in one long table: one row per (run, logged step).

    Columns: run_id, run (labels[run_id], default the run's name or id), lambda_entropy, balance_coef,
    seed, step, then CURVE_COLUMNS (NaN where a run did not log one, e.g. val_loss between epochs).
    lambda_entropy is the config's, constant per run, so a chart can colour whole runs by it. Runs gone
    from the store or damaged are left out, as in results_table.
    """
    frames = []
    for run_id in run_ids:
        try:
            summary = reader.summary(run_id)
            if summary.damage is not None:
                continue
            metrics = reader.read_metrics(run_id)
        except (OSError, ValueError):  # gone meanwhile, or damaged (RunDamaged is a ValueError)
            continue
        if metrics.empty:
            continue
        settings = summary.settings
        label = (labels or {}).get(run_id) or summary.name or run_id
        frame = pd.DataFrame({Metric.STEP: metrics[Metric.STEP].to_numpy()})
        for column in CURVE_COLUMNS:
            frame[column] = metrics[column].to_numpy(dtype=float) if column in metrics else np.nan
        frames.append(frame.assign(run_id=run_id, run=label, lambda_entropy=_number(settings["lambda_entropy"]),
                                   balance_coef=_number(settings["balance_coef"]), seed=settings["seed"]))
    columns = ["run_id", "run", "lambda_entropy", "balance_coef", "seed", "step", *CURVE_COLUMNS]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]
