"""SnapshotIndex: the gate snapshots of gates.jsonl by training step, read one at a time.

A replay steps through a run's gate snapshots (the probe batch's gates and the expert × regime matrix,
one line of gates.jsonl per logged step). A 100,000-step run logged every 10 steps holds 10,000 of them in
~30 MB, so reading and parsing the whole file for every frame is out. The index keeps, per snapshot,
its step and the byte offset and length of its line: built once by scanning the file, extended with
only the bytes appended since (a live run), and then any snapshot is one seek, one read and one
json.loads.

Scanning parses no JSON: RunWriter writes each line as {"step": <int>, "probe_gates": ..., so the step
is read off the line's head, and a line whose "probe_gates" is null holds no snapshot (the long-run
tests write such lines) and is skipped. A line in any other shape is parsed in full, and skipped if it is
no snapshot at all (garbage, a bare number). A snapshot read is checked (lfm/store/damage.py): a line
that looked like one but does not parse, or holds matrices of the wrong shape, raises RunDamaged.
Torch-free.
"""
from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import NamedTuple

from .damage import check_snapshot, parse_json
from .files import open_file

# the head of a line as RunWriter writes it; group 2 is set when the line holds no probe snapshot
_HEAD = re.compile(rb'\{"step": (-?\d+), "probe_gates": (null)?')
_CHUNK = 1 << 22  # bytes scanned per read: 4 MiB keeps memory flat on a long run's file


class Snapshot(NamedTuple):
    step: int
    probe_gates: list | None    # (P, E) nested list: each probe sample's gate
    regime_matrix: list | None  # (E, K) nested list: mean gate probability per expert and regime


class SnapshotIndex:
    """Byte offsets of the snapshots in one gates.jsonl, by step; refresh() reads what was appended."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.steps: list[int] = []    # ascending, as the writer logs them
        self._offsets: list[int] = []  # byte offset of each snapshot's line
        self._lengths: list[int] = []  # its length in bytes, without the newline
        self._scanned = 0              # bytes of the file indexed so far (always at a line's end)

    def __len__(self) -> int:
        return len(self.steps)

    def refresh(self) -> int:
        """Index the complete lines appended since the last call; returns how many snapshots were added."""
        try:
            f = open_file(self.path, "rb")
        except FileNotFoundError:
            return 0
        added = 0
        with f:
            f.seek(self._scanned)
            while True:
                chunk = f.read(_CHUNK)
                end = chunk.rfind(b"\n") + 1  # a trailing line without its newline is still being written
                if end == 0:
                    if len(chunk) == _CHUNK:  # one line longer than a chunk: read it whole
                        chunk += f.readline()
                        end = chunk.rfind(b"\n") + 1
                    if end == 0:
                        break
                added += self._index(chunk[:end], self._scanned)
                self._scanned += end
                f.seek(self._scanned)
        return added

    def _index(self, data: bytes, base: int) -> int:
        """Index every line of data (complete lines), which starts at byte `base` of the file."""
        added, start = 0, 0
        while start < len(data):
            stop = data.index(b"\n", start)
            line = data[start:stop]
            head = _HEAD.match(line)
            if head is not None:
                step, has_snapshot = int(head.group(1)), head.group(2) is None
            else:  # another writer's layout: parse the line itself
                step, has_snapshot = _parse_step(line)
            if step is not None and has_snapshot:
                self.steps.append(step)
                self._offsets.append(base + start)
                self._lengths.append(stop - start)
                added += 1
            start = stop + 1
        return added

    def position(self, step: int) -> int | None:
        """Index of the newest snapshot at or before step (the first one for a step before it); None if none."""
        if not self.steps:
            return None
        return max(bisect.bisect_right(self.steps, step) - 1, 0)

    def read(self, step: int) -> Snapshot | None:
        """The snapshot shown at `step`: the newest at or before it (the first one before any)."""
        k = self.position(step)
        return None if k is None else self.read_at(k)

    def read_at(self, k: int) -> Snapshot:
        """The k-th snapshot (0 = the first), read with one seek."""
        with open_file(self.path, "rb") as f:
            f.seek(self._offsets[k])
            line = f.read(self._lengths[k])
        where = f"the line at byte {self._offsets[k]}: "
        record = check_snapshot(parse_json(line, "gates.jsonl", where), where)  # RunDamaged if it is no snapshot
        return Snapshot(record["step"], record.get("probe_gates"), record.get("regime_matrix"))

    def frames(self, count: int) -> list[int]:
        """Positions of at most `count` snapshots spread evenly over the run, the first and the last included."""
        n = len(self.steps)
        if n == 0 or count <= 0:
            return []
        if n <= count:
            return list(range(n))
        if count == 1:
            return [n - 1]
        return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def _parse_step(line: bytes) -> tuple[int | None, bool]:
    """(step, whether it holds a probe snapshot) of a line in any layout; (None, False) for garbage."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None, False
    if not isinstance(record, dict) or not isinstance(record.get("step"), int) or isinstance(record["step"], bool):
        return None, False
    return record["step"], record.get("probe_gates") is not None
