"""The run store's files: the layout of a run folder, run ids, and the low-level reads and writes.

One folder per training run under runs/ is the single source of truth for the dashboard and the CLI
(docs/architecture.md, "The run folder"). Layout of runs/<run_id>/:

    config.json    the RunConfig dict given to the writer, plus "name" (verbatim) and "created"
    status.json    state, reason, pid, hostname, started/ended, heartbeat, step; replaced atomically
    info.json      the train_start info dict (num_experts, regime names, probe labels, ...)
    provenance.json  versions, git revision, device, host: what produced the run (provenance.py)
    metrics.csv    one row per logged step: METRIC_COLUMNS then load_0..load_{E-1}; None -> empty cell
    gates.jsonl    one line per logged step: {"step", "probe_gates", "regime_matrix"}
    events.jsonl   user events during the run, e.g. {"step": 120, "kind": "lambda_change", "value": 0.3}
    checkpoint.pt  {"model_state", "config", "input_features", "step"}, loadable with weights_only=True

Every append is flushed (and by default fsync'ed), so a run killed with SIGKILL keeps each record up to
its last log step, and readers only ever parse complete lines. Files that are replaced as a whole are
written atomically (write_atomic): a reader sees the old file or the new one, never half of one.

The store never reads or writes through a link: run_path refuses a run folder that resolves outside the
runs folder, and every file inside a run folder is opened with open_file (O_NOFOLLOW, regular files
only). On a shared runs folder anyone who can write a run folder could otherwise make the dashboard serve
any file its user can read, e.g. with checkpoint.pt -> ~/.ssh/id_rsa.
"""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import unicodedata
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")  # used with fullmatch: "$" would allow "\n"
HOSTNAME = socket.gethostname()
sync_file = getattr(os, "fdatasync", os.fsync)  # an append needs data + size on disk, not the mtime


def slugify(name: str | None, max_len: int = 40) -> str:
    """Lower-case [a-z0-9-] slug of a user-given run name; "run" when nothing usable is left."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    # a minus sign of a number becomes "m" ("lambda=-0.5" -> "lambda-m0-5"), else it would vanish as a separator
    ascii_name = re.sub(r"(?<![a-z0-9])-(?=[0-9])", "m", ascii_name.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:max_len].strip("-")
    return slug or "run"


def run_path(runs_dir: str | Path, run_id: str) -> Path:
    """The folder of run_id inside runs_dir; ValueError for any id that could point elsewhere."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id) or ".." in run_id:
        raise ValueError(f"invalid run id {run_id!r}: expected 1-121 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit and without '..'")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:  # e.g. a symlink in runs/ pointing outside it
        raise ValueError(f"run id {run_id!r} resolves to {path}, outside the runs folder {root}")
    return path


class UnsafeFile(OSError):
    """A file of a run folder that the store refuses to open: a link, a FIFO, a device or a folder."""


# O_NOFOLLOW: fail on a link as the last path component (the folders above are resolved by run_path);
# O_NONBLOCK: a FIFO planted as metrics.csv must not block the reader (no effect on regular files).
_NO_LINKS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def open_file(path: str | Path, mode: str = "rb", **kwargs: Any):
    """open(path, mode, **kwargs) for a file inside a run folder, never through a link.

    mode is one of open's: "r", "a" or "w" (the latter two create the file; "w" truncates), with "b"
    and "+" as usual. Raises UnsafeFile when path is a symbolic link or not a regular file,
    FileNotFoundError when a file to read is missing."""
    path = Path(path)
    access = os.O_RDWR if "+" in mode else os.O_RDONLY if mode[0] == "r" else os.O_WRONLY
    flags = access | _NO_LINKS | {"r": os.O_NONBLOCK, "a": os.O_APPEND | os.O_CREAT,
                                  "w": os.O_CREAT | os.O_TRUNC}[mode[0]]
    if not getattr(os, "O_NOFOLLOW", 0) and path.is_symlink():  # Windows: no O_NOFOLLOW, ask first
        raise UnsafeFile(f"{path} is a link: the run store never reads through links")
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644)
    except OSError:
        if path.is_symlink():  # ELOOP on Linux, EMLINK on FreeBSD: say what it means
            raise UnsafeFile(f"{path} is a link: the run store never reads through links") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path} is not a regular file: the run store reads only plain files")
        if flags & os.O_NONBLOCK:
            os.set_blocking(fd, True)
        return open(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def is_plain_file(path: str | Path) -> bool:
    """Whether path is a regular file itself, not a link to one (what Path.is_file would follow)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_bytes(path: str | Path) -> bytes:
    """The whole of a run folder's file, never through a link (see open_file)."""
    with open_file(path, "rb") as f:
        return f.read()


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it replaces `path` in one rename.

    Readers see the old file or the new one, never a half-written one; on an error the temporary file
    is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: two writers never share it
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace path's contents with data (text is written as UTF-8), atomically and durably."""
    with atomic_path(path) as tmp:
        with open_file(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=1))


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))  # repr: full precision, "nan"


def rounded(value: Any) -> Any:
    # 6 decimals are plenty for gate probabilities and halve the size of gates.jsonl
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return round(value, 6) if isinstance(value, float) else value


def read_complete(path: Path, offset: int = 0) -> tuple[bytes, int]:
    """Bytes of path from offset through its last newline, and the offset just after them."""
    try:
        with open_file(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b"", offset
    end = data.rfind(b"\n") + 1  # a trailing line without its newline is still being written
    return data[:end], offset + end


def newest_line(path: Path, offset: int, tail: int = 1 << 20) -> tuple[bytes, int]:
    """The newest complete line written after offset (with its newline; b"" if none), and the new offset.
    Reads at most the file's last `tail` bytes unless a single line is longer than that."""
    try:
        size = path.lstat().st_size  # lstat: a link's own size; read_complete refuses the link itself
    except FileNotFoundError:
        return b"", offset
    start = max(offset, size - tail)
    data, end = read_complete(path, start)
    if start > offset and data.count(b"\n") < 2:  # the tail may begin mid-line: need one whole line
        data, end = read_complete(path, offset)
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return (lines[-1] + b"\n") if data else b"", end


def last_line(path: Path) -> tuple[bytes, bool] | None:
    """(last complete line, whether it is also the file's first line), reading only the file's tail."""
    try:
        f = open_file(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        size, block = f.seek(0, os.SEEK_END), 8192
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start)
            end = data.rfind(b"\n")
            begin = data.rfind(b"\n", 0, max(end, 0))
            if end >= 0 and (begin >= 0 or start == 0):
                return data[begin + 1:end], begin < 0 and start == 0
            if start == 0:
                return None  # not one complete line yet
            block *= 8


def json_lines(data: bytes) -> list[dict]:
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # blank, or garbage a crashed file system left behind: skip, keep the rest
    return out


def parse_cell(text: str) -> int | float | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes (Linux)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


