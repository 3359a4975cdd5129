"""lfm.store.provenance: every run records what produced it, from the CLI, a dashboard job or Python code;
git being absent, slow or elsewhere never fails a run; the Runs page shows it and the exports carry it."""

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lfm.cli import main
from lfm.lab.jobs import JobManager
from lfm.store import RunReader, provenance
from lfm.store.export import export_files, provenance_file_name
from lfm.training.experiment import execute, prepare_run
from support import open_app
from tiny import TINY_CONFIG, TINY_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(reader, run_id) of a tiny finished run started from Python code."""
    runs_dir = tmp_path_factory.mktemp("runs")
    run = prepare_run(TINY_CONFIG, runs_dir, name="provenance")
    execute(run)
    return RunReader(runs_dir), run.run_id


def test_a_run_records_its_provenance(recorded):
    reader, run_id = recorded
    facts = provenance.read(reader.path(run_id))
    assert tuple(facts) == provenance.FIELDS
    assert facts["python"] == platform.python_version()
    assert facts["torch"] == torch.__version__
    assert facts["device"] == "cpu" and facts["torch_threads"] == torch.get_num_threads()
    assert facts["backend"] == "python"
    assert facts["host"] and facts["platform"]
    # the test suite runs lfm from this checkout: its commit is recorded (when git is here to ask)
    head = git_head()
    assert facts["git_revision"] == head
    assert isinstance(facts["git_dirty"], bool) if head else facts["git_dirty"] is None


def test_cli_and_dashboard_runs_name_their_backend(tmp_path):
    settings = [f"--set={key}={value}" for key, value in TINY_SETTINGS.items()]
    assert main(["train", "--quiet", "--runs-dir", str(tmp_path), "--name", "cli", *settings]) == 0
    manager = JobManager(tmp_path, max_concurrent=1)
    try:
        job = manager.submit(TINY_CONFIG, name="dashboard")
        assert manager.wait(job, 60) and job.state == "finished"
    finally:
        manager.close()
    reader = RunReader(tmp_path)
    backends = {r.name: provenance.read(r.path)["backend"] for r in reader.list_runs()}
    assert backends == {"cli": "cli", "dashboard": "thread"}


def test_a_sweep_worker_records_its_backend(tmp_path):
    from lfm.lab.worker import RunSpec, train_one

    outcome = train_one(RunSpec(TINY_CONFIG.to_dict(), str(tmp_path), "worker", {}, backend="ray"))
    assert outcome.status == "finished"
    assert provenance.read(RunReader(tmp_path).path(outcome.run_id))["backend"] == "ray"


def test_git_outside_a_checkout_gives_none(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)  # lfm installed somewhere that is no checkout
    assert provenance.git_state() == (None, None)


def test_a_repository_that_does_not_track_lfm_gives_none(tmp_path, monkeypatch):
    """lfm installed into a virtual environment inside some other project's checkout."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    package = tmp_path / ".venv" / "site-packages" / "lfm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (tmp_path / "README").write_text("another project")
    for argv in (["init", "-q"], ["add", "README"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "other"]):
        subprocess.run(["git", "-C", str(tmp_path), *argv], check=True, capture_output=True)
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    assert provenance.git_state() == (None, None)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-f", str(package / "__init__.py")], check=True)
    assert provenance.git_state()[1] is True  # now tracked (and staged: a local change) -> a checkout of lfm


@pytest.mark.parametrize("failure", [FileNotFoundError("git"), subprocess.TimeoutExpired("git", 2.0),
                                     PermissionError("git")])
def test_git_that_is_absent_or_hangs_never_fails_a_run(tmp_path, monkeypatch, failure):
    calls = []

    def broken_git(argv, **kwargs):
        calls.append(kwargs.get("timeout"))
        raise failure

    monkeypatch.setattr(provenance.subprocess, "run", broken_git)
    run = prepare_run(TINY_CONFIG, tmp_path, name="no git")
    assert execute(run).status == "finished"
    facts = provenance.read(run.writer.path)
    assert (facts["git_revision"], facts["git_dirty"]) == (None, None)
    assert calls == [provenance.GIT_TIMEOUT_S]  # asked once, time-bound, then given up


def test_local_changes_are_reported(tmp_path, monkeypatch):
    replies = {"ls-files": "__init__.py", "rev-parse": "0123456789abcdef", "status": " M lfm/cli.py"}

    def fake_git(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 0, stdout=replies[argv[3]] + "\n", stderr="")

    monkeypatch.setattr(provenance.subprocess, "run", fake_git)
    assert provenance.git_state() == ("0123456789abcdef", True)
    replies["status"] = ""
    assert provenance.git_state() == ("0123456789abcdef", False)
    rows = dict(provenance.describe(provenance.collect(backend="cli", device="cpu", torch_threads=1)))
    assert rows["git"] == "0123456789ab" and rows["device"] == "cpu, 1 torch thread"


def test_provenance_needs_no_torch():
    code = ("import sys\nsys.modules['torch'] = None\nfrom lfm.store import provenance\n"
            "print(provenance.collect(backend='cli')['torch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == torch.__version__  # read from the installed metadata, not by importing


def test_exports_carry_the_provenance(recorded):
    reader, run_id = recorded
    files = export_files(reader, run_id)
    assert json.loads(files[provenance_file_name(run_id)]) == provenance.read(reader.path(run_id))


def test_a_run_without_provenance_reads_none(recorded, tmp_path):
    reader, run_id = recorded
    assert provenance.read(tmp_path) is None  # e.g. a run recorded before provenance.json existed


def test_the_runs_page_shows_the_provenance(recorded, monkeypatch):
    reader, run_id = recorded
    monkeypatch.setenv("LFM_RUNS_DIR", str(reader.runs_dir))
    at = open_app("pages/runs.py")
    assert not at.exception
    (expander,) = [e for e in at.expander if e.label.startswith("Provenance")]
    (table,) = expander.dataframe
    shown = dict(zip(table.value["what"], table.value["recorded"]))
    facts = provenance.read(reader.path(run_id))
    assert shown["torch"] == facts["torch"] and shown["Python"] == facts["python"]
    assert shown["device"].startswith("cpu, ") and shown["started by"] == "python"
    assert shown["git"].startswith((facts["git_revision"] or "not a git checkout")[:12])
