"""A 100,000-step run's pages draw each chart from at most a few thousand points (on synthetic run data).

A finished run of 100,000 steps is written into a temporary run store, in the store's own format, two ways:
- "log_every=10": 10,000 step records, each through RunWriter.on_step_end exactly as lfm.training.loop sends them
  (64 probe samples' gates and a 4 x 4 regime matrix in every record: a ~30 MB gates.jsonl), and 120
  λ changes (more than the MAX_EVENTS the charts draw);
- "log_every=1": 100,000 metrics rows, the worst case for the line charts. RunWriter on that many records
  takes ~30 s and ~300 MB of gate snapshots, so the rows before the last five are appended to metrics.csv in
  one go in the writer's format (its header, ints as ints, floats at full precision, an empty cell for
  None), each with a gates.jsonl line that holds no snapshot; the last five records and six λ changes go
  through the writer. Only the newest snapshot is drawn, so the charts see what a real run gives them.
Both runs have a loss spike (SPIKE at SPIKE_STEP) that downsampling must keep.

Then AppTest renders Train & watch (which follows the newest run) and Runs, and every vega_lite_chart
element must hold at most MAX_ROWS rows of data in all (the Arrow datasets Streamlit attaches, the proto's
`data`, and any rows inline in the spec), while the step charts still cover the whole run. Render times are
printed (pytest -s), not asserted: the machine is shared.
"""

import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from lfm.config import RunConfig
from lfm.store import METRIC_COLUMNS, RunReader, RunWriter
from support import new_app

MAX_ROWS = 3_000  # "at most a few thousand points" per chart
TOTAL_STEPS = 100_000
STEPS_PER_EPOCH = 50
E, P = 4, 64  # experts, probe samples
REGIMES = ["sine", "square", "sawtooth", "noise"]
SPIKE, SPIKE_STEP = 50.0, 55_550
VAL_EVERY = 100  # a validation loss every this many steps (1,000 in the run)
WRITER_TAIL = 5  # records at the end written through RunWriter in the bulk case


def synthetic_metrics(log_every: int, lambda_changes: list[tuple[int, float]]) -> pd.DataFrame:
    """metrics.csv's columns (METRIC_COLUMNS, load_0..load_3) for a 100,000-step run logged every log_every
    steps: a decaying, noisy loss with one spike, entropies settling, loads drifting. Deterministic."""
    rng = np.random.default_rng(0)
    step = np.arange(log_every, TOTAL_STEPS + 1, log_every)  # (N,)
    n = len(step)
    t = step / TOTAL_STEPS
    loss = 0.05 + 0.5 * np.exp(-6 * t) + 0.02 * rng.standard_normal(n) ** 2
    loss[step == SPIKE_STEP] = SPIKE
    lam = np.full(n, 0.01)
    for at, value in lambda_changes:
        lam[step > at] = value
    routing = 1.2 + 0.8 * np.exp(-3 * t) + 0.05 * rng.standard_normal(n)
    logits = np.stack([np.sin(2 * np.pi * (t + e / E)) for e in range(E)], axis=1) + 0.1 * rng.standard_normal((n, E))
    load = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (N, E), rows sum to 1
    load_entropy = -(load * np.log2(load)).sum(axis=1)
    df = pd.DataFrame({
        "step": step, "epoch": (step - 1) // STEPS_PER_EPOCH, "total_steps": TOTAL_STEPS, "time_s": step * 0.004,
        "samples_per_s": 4000.0 + 100 * rng.standard_normal(n), "lambda_entropy": lam, "balance_coef": 0.0,
        "loss": loss, "total_loss": loss + lam * routing,
        "val_loss": np.where(step % VAL_EVERY == 0, loss + 0.01, np.nan), "routing_entropy": routing,
        "load_entropy": load_entropy, "specialisation": np.maximum(load_entropy - routing, 0.0),
        "varentropy": 0.3 + 0.05 * rng.standard_normal(n), "mi_regime": 0.5 * (1 - np.exp(-4 * t)),
    })  # fmt: skip
    for e in range(E):
        df[f"load_{e}"] = load[:, e]
    assert list(df.columns[: len(METRIC_COLUMNS)]) == list(METRIC_COLUMNS)
    return df


def gate_snapshot(step: int) -> tuple[list, list]:
    """(probe gates (P, E), regime matrix (E, K)) of a gate that specialises: sample i leans to expert i % 4."""
    sharp = 1.0 + 5.0 * step / TOTAL_STEPS
    logits = sharp * np.eye(E)[np.arange(P) % E] + 0.1 * np.cos(np.arange(P * E) + step).reshape(P, E)
    gates = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (P, E)
    matrix = np.stack([gates[np.arange(P) % E == k].mean(axis=0) for k in range(E)], axis=1)  # (E, K)
    return gates.tolist(), matrix.tolist()


def record(row: dict, with_gates: bool = True) -> dict:
    """One step record as lfm.training.loop gives it to its callbacks (NaN val_loss -> None)."""
    rec = {c: row[c] for c in METRIC_COLUMNS}
    rec["step"], rec["epoch"], rec["total_steps"] = int(row["step"]), int(row["epoch"]), int(row["total_steps"])
    rec["val_loss"] = None if np.isnan(row["val_loss"]) else float(row["val_loss"])
    rec["expert_load"] = [float(row[f"load_{e}"]) for e in range(E)]
    rec["probe_gates"], rec["regime_matrix"] = gate_snapshot(rec["step"]) if with_gates else (None, None)
    return rec


def write_run(runs_dir: Path, log_every: int, num_changes: int) -> str:
    """A finished 100,000-step run in runs_dir (see the module docstring); returns its id."""
    changes = [(int(at), float(v)) for at, v in
               zip(np.linspace(1_000, 95_000, num_changes), np.resize([0.3, -0.2, 0.1, 0.0], num_changes))]
    df = synthetic_metrics(log_every, changes)
    config = RunConfig().with_overrides({"num_experts": E, "num_epochs": TOTAL_STEPS // STEPS_PER_EPOCH,
                                         "log_every": log_every}).to_dict()
    writer = RunWriter(runs_dir, config, name=f"long run every {log_every}", fsync=False)
    writer.on_train_start({"total_steps": TOTAL_STEPS, "num_experts": E, "regime_names": REGIMES,
                           "probe_labels": [i % len(REGIMES) for i in range(P)], "device": "cpu",
                           "num_parameters": 12_345})
    pending = sorted(changes)
    if log_every == 1:  # bulk rows first, then the writer takes over for the tail
        bulk = df.iloc[:-WRITER_TAIL]
        buffer = io.StringIO()
        bulk.to_csv(buffer, header=False, index=False, na_rep="", lineterminator="\n")
        with open(writer.path / "gates.jsonl", "a", encoding="utf-8") as gates:
            gates.writelines(json.dumps({"step": int(s), "probe_gates": None, "regime_matrix": None}) + "\n"
                             for s in bulk["step"])
        with open(writer.path / "metrics.csv", "a", encoding="utf-8", newline="") as metrics:
            metrics.write(buffer.getvalue())
        for at, value in pending:  # events.jsonl is independent of the rows
            writer.on_lambda_change({"step": at, "kind": "lambda_change", "value": value})
        pending, rows = [], df.iloc[-WRITER_TAIL:]
    else:
        rows = df
    for row in rows.to_dict("records"):
        while pending and pending[0][0] < row["step"]:
            at, value = pending.pop(0)
            writer.on_lambda_change({"step": at, "kind": "lambda_change", "value": value})
        writer.on_step_end(record(row))
    writer.on_train_end(SimpleNamespace(status="finished", reason="finished 2000 epochs", steps=TOTAL_STEPS))
    return writer.run_id


def chart_tables(element) -> dict[str, pa.Table | list]:
    """Every table of data one vega_lite_chart element carries: name -> Arrow table (or inline rows)."""
    proto = element.proto
    tables = {ds.name or f"dataset {i}": pa.ipc.open_stream(ds.data.data).read_all()
              for i, ds in enumerate(proto.datasets)}
    if proto.HasField("data") and proto.data.data:
        tables["(data)"] = pa.ipc.open_stream(proto.data.data).read_all()
    spec = json.loads(proto.spec)
    for name, rows in (spec.get("datasets") or {}).items():  # rows left inline in the spec
        tables[f"inline {name}"] = rows

    def inline_values(node, path="spec"):
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, dict) and isinstance(data.get("values"), list):
                tables[f"inline {path}"] = data["values"]
            for key, value in node.items():
                if key != "datasets":
                    inline_values(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                inline_values(value, f"{path}[{i}]")

    inline_values(spec)
    return tables


def num_rows(table) -> int:
    return table.num_rows if isinstance(table, pa.Table) else len(table)


def check_charts(at: AppTest, page: str) -> None:
    """Each chart's data is at most MAX_ROWS rows; the step charts still span the whole run."""
    charts = at.get("vega_lite_chart")
    # loss, entropies, load, probe, matrix, use, quadrant; Runs adds the replay's probe, matrix, use, quadrant,
    # loss and entropies at the replayed step
    expected = 13 if page.startswith("Runs") else 7
    assert len(charts) == expected, f"{page}: {len(charts)} charts"
    sizes = []
    for element in charts:
        tables = chart_tables(element)
        assert tables, f"{page}: a chart without data"
        total = sum(num_rows(t) for t in tables.values())
        sizes.append(f"{'+'.join(sorted(tables))}={total:,}")
        assert total <= MAX_ROWS, f"{page}: a chart with {total:,} rows of data: " + \
            ", ".join(f"{name} {num_rows(t):,}" for name, t in tables.items())
        lines = tables.get("lines")
        if lines is not None:  # loss and entropy charts: from the first logged steps to the last one
            steps = lines.column("step").to_numpy()
            assert steps.max() == TOTAL_STEPS and steps.min() <= 10, f"{page}: lines cover {steps.min()}..{steps.max()}"
            if "validation" in tables:  # the loss chart keeps the spike, whatever the number of rows
                frame = lines.to_pandas()
                assert frame.loc[frame["series"] == "train loss (MSE)", "raw"].max() == SPIKE
        cells = tables.get("cells")
        if cells is not None and "step_end" in cells.column_names:  # the load heatmap reaches the last step
            assert cells.column("step_end").to_numpy().max() >= TOTAL_STEPS
        events = tables.get("events")
        if events is not None:
            assert events.num_rows <= 50
    print(f"  {page}: chart rows " + "; ".join(sizes))


@pytest.mark.parametrize("log_every, num_changes", [(10, 120), (1, 6)], ids=["log_every=10", "log_every=1"])
def test_a_100k_step_run_draws_each_chart_from_a_few_thousand_points(runs_dir, log_every, num_changes):
    t0 = time.perf_counter()
    run_id = write_run(runs_dir, log_every, num_changes)
    written = time.perf_counter() - t0
    reader = RunReader(runs_dir)
    (summary,) = reader.list_runs()
    assert summary.state == "finished" and summary.last_metrics["step"] == TOTAL_STEPS
    assert len(reader.read_metrics(run_id)) == TOTAL_STEPS // log_every
    assert len(reader.read_events(run_id)) == num_changes
    size_mb = sum(f.stat().st_size for f in summary.path.iterdir()) / 1e6
    print(f"\n{log_every=}: {TOTAL_STEPS // log_every:,} rows, {num_changes} λ changes, {size_mb:.1f} MB "
          f"written in {written:.1f} s")

    t0 = time.perf_counter()
    rows, gates = RunReader(runs_dir).read_new(run_id)  # what a page's first look at the run reads
    read_s = time.perf_counter() - t0
    assert len(rows) == TOTAL_STEPS // log_every and gates[-1]["probe_gates"]

    timings = {"read the run's files": read_s}
    for page, title in [("pages/runs.py", "Runs"), ("pages/train.py", "Train & watch")]:
        at = new_app()  # a new session: its first look at the run
        at.switch_page(page)
        t0 = time.perf_counter()
        at.run()
        timings[title] = time.perf_counter() - t0
        assert [t.value for t in at.title] == [title]
        assert not at.exception and not at.error
        assert any("finished" in m.value for m in at.markdown)
        assert any(f"step {TOTAL_STEPS:,} / {TOTAL_STEPS:,}" in bar.proto.text for bar in at.get("progress"))
        check_charts(at, title)
        t0 = time.perf_counter()
        at.run()  # a rerun (e.g. a widget change) reuses the session's copy of the run
        timings[f"{title} again"] = time.perf_counter() - t0
        assert not at.exception
        check_charts(at, f"{title} again")
    print("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
