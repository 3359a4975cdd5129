"""Benchmark of the replay's reads on a 100,000-step run (nothing here is asserted by tests; tests/test_replay.py
checks the same reads against generous bounds).

A gates.jsonl is fabricated as RunWriter writes it: 100,000 steps logged every 10, so 10,000 snapshots of a
64-sample probe batch over 4 experts and a 4 x 4 expert × regime matrix (~30 MB). Printed:
  * building the SnapshotIndex from scratch (what a session pays once per run);
  * refreshing it with nothing new, and after 100 more snapshots were appended (a live run);
  * reading one snapshot at a random step (what each slider move or play frame pays), median of 200;
  * for comparison, reading every snapshot at once (RunReader.read_gates, what a replay would pay without the index);
  * an animated GIF of 12 snapshots (ui.replay_charts.replay_gif), if vl-convert and Pillow are installed.

Usage: .venv/bin/python bench/bench_replay.py [--steps 100000] [--log-every 10] [--gif-frames 12]
"""

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lfm.store.files import json_lines, read_complete, rounded
from lfm.store.snapshots import SnapshotIndex

E, P, K = 4, 64, 4  # experts, probe samples, regimes


def snapshot_line(step: int, total: int) -> str:
    """One gates.jsonl line in RunWriter's format: a gate that sharpens as training goes on."""
    sharp = 1.0 + 5.0 * step / total
    logits = sharp * np.eye(E)[np.arange(P) % E] + 0.1 * np.cos(np.arange(P * E) + step).reshape(P, E)
    gates = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (P, E)
    matrix = np.stack([gates[np.arange(P) % K == k].mean(axis=0) for k in range(K)], axis=1)  # (E, K)
    return json.dumps({"step": step, "probe_gates": rounded(gates.tolist()),
                       "regime_matrix": rounded(matrix.tolist())}) + "\n"


def timed(fn, repeat=1):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--gif-frames", type=int, default=12)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gates.jsonl"
        steps = range(args.log_every, args.steps + 1, args.log_every)
        with open(path, "w") as f:
            f.writelines(snapshot_line(s, args.steps) for s in steps)
        size_mb = path.stat().st_size / 1e6
        print(f"gates.jsonl: {len(steps):,} snapshots, {size_mb:.1f} MB")

        index = SnapshotIndex(path)
        added, build = timed(index.refresh)
        _, idle = timed(index.refresh, repeat=20)
        with open(path, "a") as f:
            f.writelines(snapshot_line(args.steps + args.log_every * k, args.steps) for k in range(1, 101))
        _, extend = timed(index.refresh)
        rng = random.Random(0)
        _, read = timed(lambda: index.read(rng.randrange(args.steps)), repeat=200)
        _, read_all = timed(lambda: json_lines(read_complete(path)[0]))
        print(f"| build the index ({added:,} snapshots) | {build * 1e3:.0f} ms |")
        print(f"| refresh, nothing new | {idle * 1e6:.0f} µs |")
        print(f"| refresh after 100 new snapshots | {extend * 1e3:.1f} ms |")
        print(f"| read the snapshot at a random step (median of 200) | {read * 1e3:.2f} ms |")
        print(f"| without the index: read and parse every snapshot | {read_all * 1e3:.0f} ms |")
        try:
            from ui.images import GIF_EXPORT_AVAILABLE
            from ui.replay_charts import replay_gif
        except ImportError:
            GIF_EXPORT_AVAILABLE = False
        if GIF_EXPORT_AVAILABLE:
            positions = index.frames(args.gif_frames)
            gif, seconds = timed(lambda: replay_gif(index, positions, [i % K for i in range(P)],
                                                    ["sine", "square", "sawtooth", "ar1"]))
            print(f"| animated GIF of {len(positions)} snapshots | {seconds:.1f} s, {len(gif) / 1e3:.0f} kB |")


if __name__ == "__main__":
    main()
