"""Packaging: pyproject.toml is the one list of dependencies and packages, and the wheel it builds works.

The wheel test builds the project's wheel, installs it (and nothing else) into a new virtual environment
and runs `lfm --help`, `lfm train` and `lfm dashboard` from an empty folder, so the installed copy must
find its assets and the dashboard's files by itself. To stay within a minute and offline, that
environment borrows the dependencies already installed for this test run (a .pth file naming this
interpreter's site-packages) instead of downloading them; the README gives the measured full
`pip install .` into a fresh environment.
"""

import os
import pkgutil
import shutil
import socket
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import lfm
from browser_support import healthy
from support import stop_process, wait_for
from tiny import TINY_SETTINGS
from ui.routing import PAGES as ROUTES

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
APP_FILES = ["lfm_app/streamlit_app.py", "lfm_app/.streamlit/config.toml", "lfm_app/ui/routing.py",
             "lfm_app/ui/live_charts/live_charts.js", "lfm_app/ui/live_charts/live_charts.css",
             "lfm_app/pages/train.py", "lfm/assets/presets.json", "lfm/assets/hyperparameters.json",
             "lfm/assets/training.json"]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "runs", "test-artifacts", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache")


def test_the_wheel_lists_every_package_of_the_tree():
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    lfm_packages = {"lfm"} | {m.name for m in pkgutil.walk_packages(lfm.__path__, prefix="lfm.") if m.ispkg}
    ui_packages = {"lfm_app.ui"} | {f"lfm_app.ui.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "ui")])
                                    if m.ispkg}
    assert packages == lfm_packages | ui_packages | {"lfm_app"}


def test_the_requirements_files_install_the_project_and_name_nothing_else():
    """pyproject.toml holds the only list of dependencies: the requirements files point at it."""
    def lines(name):
        text = (ROOT / name).read_text().splitlines()
        return [line.split("#")[0].strip() for line in text if line.split("#")[0].strip()]

    assert lines("requirements.txt") == ["-e ."]
    assert lines("requirements-dev.txt") == ["-e .[dev]"]
    assert "dev" in PYPROJECT["project"]["optional-dependencies"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the new environment's bin folder, an empty working folder, the wheel) with the wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LFM_RUNS_DIR")}

    def run(*args, **kwargs):
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240, **kwargs)
        assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
        return done

    # 1. the wheel, built from a copy of the tree (the build writes build/ and *.egg-info beside the sources)
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_COPIED)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist",
        tmp / "src")
    (wheel,) = (tmp / "dist").glob("*.whl")
    # 2. a new environment holding the wheel; its dependencies are this interpreter's (see the docstring)
    run(sys.executable, "-m", "venv", "--without-pip", tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "borrowed_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    (tmp / "empty").mkdir()
    return tmp / "venv" / "bin", tmp / "empty", wheel, env


def test_the_wheel_holds_the_dashboard_and_the_assets(installed):
    _, _, wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert [name for name in APP_FILES if name not in names] == []


def test_the_installed_command_line_works_from_an_empty_folder(installed):
    bin_dir, folder, _, env = installed
    run = dict(cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    shown = subprocess.run([bin_dir / "lfm", "--help"], **run)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: lfm ")
    assert all(command in shown.stdout for command in ("train", "runs", "dashboard"))
    # the installed package, not this checkout, and its own presets
    where = subprocess.run([bin_dir / "python", "-c", "import lfm.config as c; print(c.ASSETS_DIR, "
                            "len(c.load_presets()))"], **run)
    assets, presets = where.stdout.split()
    assert Path(assets).is_relative_to(bin_dir.parent) and int(presets) >= 6, where.stderr
    sets = [f"--set={k}={v}" for k, v in TINY_SETTINGS.items()]
    trained = subprocess.run([bin_dir / "lfm", "train", *sets, "--quiet"], **run)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (folder / "runs").iterdir()
    assert (run_dir / "checkpoint.pt").is_file() and "finished" in trained.stdout


def test_the_installed_dashboard_serves_the_app_from_an_empty_folder(installed, browser_page, tmp_path):
    bin_dir, _, _, env = installed
    folder = tmp_path / "empty"  # the dashboard starts here; with --runs-dir it writes nothing here
    folder.mkdir()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    log = open(tmp_path / "dashboard.log", "w+")
    proc = subprocess.Popen([bin_dir / "lfm", "dashboard", "--runs-dir", tmp_path / "runs",
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--server.port", str(port)],
                            cwd=folder, env={**env, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: proc.poll() is not None or healthy(url), 60, "the installed dashboard")
            assert proc.poll() is None, "lfm dashboard exited"
        except AssertionError as exc:
            log.seek(0)
            pytest.fail(f"{exc}:\n{log.read()}")
        page = browser_page
        page.goto(f"{url}/runs")
        main = page.get_by_test_id("stMainBlockContainer")
        wait_for(lambda: "Runs" in main.locator("h1").first.inner_text() if main.locator("h1").count()
                 else False, 60, "the Runs page's title")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert all(title in nav for _, title, _ in ROUTES)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not list(folder.iterdir()), "the dashboard wrote into the folder it was started from"
        assert (tmp_path / "runs").is_dir(), "the dashboard did not open the --runs-dir folder"
    finally:
        stop_process(proc)
        log.close()
