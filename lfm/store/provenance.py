"""Provenance: what produced a run (software versions, code revision, machine), kept in provenance.json.

A number in a run folder is only worth comparing with another when both came from the same code on a
comparable machine, so every run records, when it starts training:

    python, torch, streamlit, lfm   versions (streamlit: None where it is not installed)
    git_revision, git_dirty         the commit of the checkout lfm was imported from, and whether tracked
                                    files differed from it; None when lfm is installed elsewhere or git is
                                    absent. Asking git is bounded by GIT_TIMEOUT_S and never fails a run
    device, torch_threads           where the run trained (given by the training layer, which has torch)
    host, platform, backend         the machine, its OS, and what drove the run: "cli" for
                                    `python -m lfm train`, "thread" for a dashboard job, "process" or
                                    "ray" for a sweep's worker (lfm/lab/backends.py), "python" for code
                                    calling lfm.training.experiment.execute itself

This module imports no torch: versions come from the installed packages' metadata, and the facts only
torch knows (the device, its thread count) are passed in by lfm.training.experiment.
"""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from .damage import RunDamaged, json_object, parse_json
from .files import HOSTNAME, read_bytes, write_json_atomic

FILE_NAME = "provenance.json"
GIT_TIMEOUT_S = 2.0  # per git call: a hung or very slow git must not hold up a run
DISTRIBUTION = "lfm-entropy-lab"  # the name pyproject.toml installs lfm under
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../lfm: git is asked about the checkout holding it

# the order the fields are shown in (Runs page, TensorBoard text); collect() returns exactly these keys
FIELDS = ("lfm", "python", "torch", "streamlit", "git_revision", "git_dirty", "device", "torch_threads",
          "host", "platform", "backend")


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution, read from its metadata (nothing is imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """stdout of `git -C PACKAGE_DIR <args>`, or None for any failure (no git, not a checkout, timeout)."""
    try:
        done = subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):  # FileNotFoundError, TimeoutExpired, CalledProcessError
        return None
    return done.stdout.strip()


def git_state() -> tuple[str | None, bool | None]:
    """(commit hash, whether tracked files have local changes) of the checkout lfm runs from.

    Untracked files are not counted: a checkout always holds some (runs/, .venv/), and they are not
    code the run used. (None, None) when lfm is not in a git checkout or git cannot answer in time.
    A checkout of lfm is one that tracks lfm/__init__.py: lfm installed into a virtual environment that
    happens to sit inside some other repository must not report that repository's commit."""
    if _git("ls-files", "--error-unmatch", "__init__.py") is None:
        return None, None
    revision = _git("rev-parse", "HEAD")
    if not revision:
        return None, None
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return revision, None if changes is None else bool(changes)


def collect(*, backend: str, device: str | None = None, torch_threads: int | None = None) -> dict[str, Any]:
    """The provenance of a run about to train on `device` with `torch_threads` intra-op threads."""
    revision, dirty = git_state()
    return {
        "lfm": package_version(DISTRIBUTION),
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "streamlit": package_version("streamlit"),
        "git_revision": revision,
        "git_dirty": dirty,
        "device": device,
        "torch_threads": torch_threads,
        "host": HOSTNAME,
        "platform": platform.platform(),
        "backend": backend,
    }


def write(run_dir: str | Path, provenance: dict) -> None:
    write_json_atomic(Path(run_dir) / FILE_NAME, provenance)


def read(run_dir: str | Path) -> dict | None:
    """A run's provenance.json, or None: runs recorded before provenance existed, or not started yet.

    RunDamaged when it is no JSON object of plain values (lfm/store/damage.py)."""
    try:
        data = read_bytes(Path(run_dir) / FILE_NAME)
    except FileNotFoundError:
        return None
    facts = json_object(parse_json(data, FILE_NAME), FILE_NAME)
    for key, value in facts.items():
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise RunDamaged(FILE_NAME, f"\"{key}\" holds a {type(value).__name__}, not a plain value")
    if not isinstance(facts.get("git_revision") or "", str):
        raise RunDamaged(FILE_NAME, "\"git_revision\" is no text")
    return facts


def describe(provenance: dict) -> list[tuple[str, str]]:
    """(label, text) rows for people, in FIELDS order, e.g. ("git", "1a2b3c4d5e6f (local changes)")."""
    p = provenance
    git = p.get("git_revision")
    if git:
        git = git[:12] + (" (local changes)" if p.get("git_dirty") else "")
    threads = p.get("torch_threads")
    device = p.get("device") or "?"
    rows = [
        ("lfm", p.get("lfm") or "not installed (run from a checkout)"),
        ("Python", p.get("python") or "?"),
        ("torch", p.get("torch") or "?"),
        ("streamlit", p.get("streamlit") or "not installed"),
        ("git", git or "not a git checkout, or git unavailable"),
        ("device", f"{device}, {threads} torch thread{'s' if threads != 1 else ''}" if threads else device),
        ("host", f"{p.get('host') or '?'} ({p.get('platform') or '?'})"),
        ("started by", p.get("backend") or "?"),
    ]
    return rows
