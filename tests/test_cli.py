"""Tests for lfm/cli.py: `python -m lfm train` and `runs` end to end on tiny runs, every kind of bad input
(one line, exit status 2, a message naming the file or setting), Ctrl-C, and the progress bar."""
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lfm.cli import ProgressBar, main
from lfm.config import RunConfig
from lfm.training.loop import TrainResult, available_devices
from support import BAD_INPUT_S, bounded, refuses

REPO = Path(__file__).resolve().parents[1]
SEED_HYPERPARAMETERS = {"token_dim": 64, "channel_dim": 64, "expert_dim": 64, "adapt_dim": 32,
                        "num_experts": 4, "lambda_entropy": 0.01}
SEED_TRAINING = {"batch_size": 16, "sequence_length": 10, "num_samples": 1000, "num_epochs": 10,
                 "learning_rate": 0.001}
# the seed's keys exactly, with small values so a run takes a moment
SMALL_HYPERPARAMETERS = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4,
                         "num_experts": 4, "lambda_entropy": 0.01}
SMALL_TRAINING = {"batch_size": 16, "sequence_length": 10, "num_samples": 64, "num_epochs": 1,
                  "learning_rate": 0.001}
TINY = [f"--set={k}={v}" for k, v in {**SMALL_HYPERPARAMETERS, **SMALL_TRAINING}.items()]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy shared 2-core machine two spinning
    threads per process made single steps take seconds instead of milliseconds (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_json(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=4))
    return path


def only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def status_of(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def test_train_reads_the_seed_files_in_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path, "hyperparameters.json", SMALL_HYPERPARAMETERS)
    write_json(tmp_path, "training.json", {**SMALL_TRAINING, "num_epochs": 2})

    assert main(["train", "--name", "from files"]) == 0
    out, err = capsys.readouterr()

    run = only_run(tmp_path / "runs")
    assert status_of(run)["state"] == "finished"
    config = json.loads((run / "config.json").read_text())
    assert config["hyperparameters"]["token_dim"] == 8  # the files were read, not the defaults
    assert config["training"]["num_epochs"] == 2
    assert config["name"] == "from files"
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert len(metrics) >= 2 and metrics[0].startswith("step,")
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 8 and ckpt["config"]["hyperparameters"] == {**SMALL_HYPERPARAMETERS,
                                                                      "balance_coef": 0.0,
                                                                      "gate_summary": "mean"}
    # the summary: status, where the run is, the loss against the baseline, the entropies, the checkpoint
    assert "finished: finished 2 epochs" in out
    assert run.name in out and str(run) in out
    assert "hyperparameters.json, training.json" in out
    assert "for repeating the last value" in out
    for label in ("routing entropy", "load entropy", "specialisation", "I(expert; regime)"):
        assert label in out
    assert f"checkpoint         {run / 'checkpoint.pt'}" in out
    # the progress bar: stderr is not a terminal here, so whole lines, no carriage returns
    assert "\r" not in err
    assert err.startswith(f"run {run.name}: training ")
    assert "8/8 steps (100%) | epoch 2/2 | loss " in err and "ETA 0:00" in err


def test_train_on_a_csv_file_given_with_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = ["a,b,regime"] + [f"{i % 7},{(i * 3) % 5}.5,{'up' if i % 10 < 5 else 'down'}" for i in range(60)]
    (tmp_path / "series.csv").write_text("\n".join(rows) + "\n")

    assert main(["train", "--quiet", "--data", "series.csv", *TINY, "--set", "sequence_length=4",
                 "--runs-dir", "out"]) == 0
    run = only_run(tmp_path / "out")
    training = json.loads((run / "config.json").read_text())["training"]
    assert training["dataset"] == "csv"
    assert training["csv_path"] == str(tmp_path / "series.csv")  # absolute: found from any folder
    assert "series.csv: " in capsys.readouterr().out


def test_gate_summary_and_regime_levels_round_trip_through_set_and_the_files(tmp_path, monkeypatch, capsys):
    """--set reaches the run; the run's saved settings load back, through --hyperparameters/--training."""
    from lfm.config import load_run_config, save_run_config

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--quiet", *TINY, "--set", "gate_summary=conv", "--set", "regime_levels=shared",
                 "--runs-dir", "first"]) == 0
    config = json.loads((only_run(tmp_path / "first") / "config.json").read_text())
    assert config["hyperparameters"]["gate_summary"] == "conv"
    assert config["training"]["regime_levels"] == "shared"
    cfg = load_run_config(*save_run_config(
        RunConfig.from_dict({k: config[k] for k in ("hyperparameters", "training")}), tmp_path / "cfg"))
    assert (cfg.model.gate_summary, cfg.training.regime_levels) == ("conv", "shared")
    assert main(["train", "--quiet", "--hyperparameters", "cfg/hyperparameters.json",
                 "--training", "cfg/training.json", "--runs-dir", "second"]) == 0
    again = json.loads((only_run(tmp_path / "second") / "config.json").read_text())
    assert {k: again[k] for k in ("hyperparameters", "training")} == cfg.to_dict()


def test_runs_lists_the_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.strip() == "no runs in runs"

    assert main(["train", "--quiet", *TINY, "--name", "my run"]) == 0
    run = only_run(tmp_path / "runs")
    capsys.readouterr()
    assert main(["runs"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "STATE", "NAME", "STEPS", "VAL", "LOSS"]
    assert row.startswith(run.name) and "finished" in row and "my run" in row and "4/4" in row
    assert float(row.split()[-1]) > 0  # final validation loss


def absent_device() -> str:
    absent = [d for d in ("mps", "cuda") if d not in available_devices()]
    if not absent:
        pytest.skip("every device is available here")
    return absent[0]


def csv(text):
    return lambda folder: (folder / "data.csv").write_text(text)


ROWS = "\n".join(f"{i},{i * 2}" for i in range(40))
BAD_INPUTS = {  # case: (files to write, argv after "train", substrings the message must contain)
    "malformed JSON": (lambda d: write_json(d, "hyperparameters.json", '{\n  "token_dim": 8,\n}\n'),
                       [], ["hyperparameters.json", "malformed JSON at line 3"]),
    "unknown key": (lambda d: write_json(d, "training.json", {**SMALL_TRAINING, "epochs": 3}),
                    [], ["training.json", "unknown key 'epochs'"]),
    "key in the wrong file": (lambda d: write_json(d, "training.json", {"token_dim": 8}),
                              [], ["training.json", "it belongs in hyperparameters.json"]),
    "out of range": (lambda d: write_json(d, "hyperparameters.json", {"num_experts": 0}),
                     [], ["hyperparameters.json", "num_experts = 0 is out of range", "1 to 64"]),
    "wrong type": (lambda d: write_json(d, "training.json", {"batch_size": "16"}),
                   [], ["training.json", 'batch_size = "16" has the wrong type']),
    "dims mismatch": (lambda d: write_json(d, "hyperparameters.json", {**SMALL_HYPERPARAMETERS,
                                                                       "channel_dim": 16}),
                      [], ["hyperparameters.json", "channel_dim = 16 must equal token_dim = 8"]),
    "missing config file": (None, ["--training", "nope.json"], ["nope.json: file not found"]),
    "--set unknown key": (None, ["--set", "lamda_entropy=0.3"],
                          ["--set lamda_entropy=0.3: unknown setting", "did you mean 'lambda_entropy'"]),
    "--set without =": (None, ["--set", "num_epochs"], ["--set 'num_epochs': expected KEY=VALUE"]),
    "--set bad value": (None, ["--set", "num_epochs=abc"],
                        ['--set num_epochs=abc: num_epochs = "abc" is not a number']),
    "--set out of range": (None, ["--set", "learning_rate=0"],
                           ["--set learning_rate=0: learning_rate = 0 is out of range: allowed "
                            "numbers above 0 up to 1"]),
    "--set bad summary": (None, ["--set", "gate_summary=attention"],
                          ['gate_summary = "attention" is not one of the choices: allowed one of '
                           "'mean', 'conv'"]),
    "--set bad levels": (None, ["--set", "regime_levels=equal"],
                         ['regime_levels = "equal" is not one of the choices: allowed one of '
                          "'distinct', 'shared'"]),
    "--set breaks a combination": (None, ["--set", "token_dim=8"],
                                   ["channel_dim = 64 must equal token_dim = 8",
                                    "(after --set token_dim=8)"]),
    "parameter budget": (None, [f"--set={k}=1024" for k in ("token_dim", "channel_dim", "expert_dim")]
                         + ["--set", "adapt_dim=512"], ["parameters, above the budget of 50,000,000"]),
    "--data unknown name": (None, ["--data", "weather"], ["--data 'weather': expected random, regimes"]),
    "CSV non-numeric column": (csv("a,b\n1,2\n3,x\n" + ROWS), ["--data", "data.csv"],
                               ["data.csv", "column 'b' is not numeric (row 2 has 'x')"]),
    "CSV too short": (csv("a,b\n1,2\n3,4\n5,6\n"), ["--data", "data.csv"],
                      ["data.csv has 3 rows", "sequence_length=10"]),
    "CSV with NaN": (csv("a,b\n1,2\n3,\n" + ROWS), ["--data", "data.csv"],
                     ["data.csv", "column 'b' has a missing or infinite value at row 2"]),
    "empty CSV": (csv(""), ["--data", "data.csv"], ["CSV data.csv is empty"]),
    "missing CSV": (None, ["--data", "nothere.csv"], ["CSV file not found", "nothere.csv"]),
    "unknown flag": (None, ["--epochs", "3"], ["unrecognized arguments: --epochs 3"]),
}


@bounded
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_naming_the_problem_and_exit_2(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    setup, argv, expected = BAD_INPUTS[case]
    if setup:
        setup(tmp_path)

    refuses(["train", *argv], capsys, *expected)
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


@bounded
def test_an_unavailable_device_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    device = absent_device()
    err = refuses(["train", *TINY, "--set", f"device={device}"], capsys)
    assert err == (f"lfm: error: device = {device!r} is not available on this machine: allowed "
                   f"{', '.join(['auto', *available_devices()])} (e.g. --set device=cpu)\n")
    assert not (tmp_path / "runs").exists()


def test_a_diverged_run_exits_1_with_its_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = TrainResult("diverged", "diverged at step 3: the loss became NaN or infinite", 3, None, 0.1)
    monkeypatch.setattr("lfm.training.experiment.train_model", lambda *a, **k: result)

    assert main(["train", "--quiet", *TINY]) == 1
    out, err = capsys.readouterr()
    assert "status             diverged: diverged at step 3" in out
    assert "val loss           n/a (repeating the last value: " in out
    assert "routing entropy    n/a" in out and "checkpoint         not saved" in out
    assert err.count("\n") == 1 and err.startswith("lfm: error: run ")
    assert err.rstrip().endswith("diverged at step 3: the loss became NaN or infinite")


def interrupt_at_first_record(monkeypatch, times: int) -> None:
    """Send SIGINT `times` times to this process when the progress bar gets its first record."""
    original = ProgressBar.on_step_end

    sent = []

    def on_step_end(self, rec):
        if rec["step"] == 10 and not sent:
            sent.append(True)
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)  # the Python handler runs before the next line
        original(self, rec)

    monkeypatch.setattr(ProgressBar, "on_step_end", on_step_end)


@pytest.fixture
def interactive_sigint():
    """SIGINT as in a terminal (a CI job started in the background may inherit it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_run_and_saves_it(tmp_path, monkeypatch, capsys, interactive_sigint):
    monkeypatch.chdir(tmp_path)
    interrupt_at_first_record(monkeypatch, times=1)

    # 200 steps if never stopped; 4 steps an epoch, so the validation loss is logged at steps 5, 9, ...
    assert main(["train", *TINY, "--set", "num_epochs=50", "--set", "log_every=1"]) == 0
    out, err = capsys.readouterr()
    run = only_run(tmp_path / "runs")
    status = status_of(run)
    assert status["state"] == "stopped" and status["step"] == 10
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 10
    assert "stopped: stopped by the user at step 10" in out
    assert "val loss           n" not in out  # a final record repeats step 10 with its validation loss
    assert "lfm: stopping after the current step and saving the run (press Ctrl-C again to abort)" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    # stopped just after a log step: that step's record comes again, now with the validation loss
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    column = rows[0].index("val_loss")
    assert [row[0] for row in rows[-2:]] == ["10", "10"] and rows[-2][column] == "" and rows[-1][column] != ""
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == f"{float(rows[-1][column]):.4g}"


def test_a_second_ctrl_c_aborts(tmp_path, monkeypatch, capsys, interactive_sigint):
    monkeypatch.chdir(tmp_path)
    interrupt_at_first_record(monkeypatch, times=2)

    assert main(["train", *TINY, "--set", "num_epochs=50"]) == 130
    out, err = capsys.readouterr()
    run = only_run(tmp_path / "runs")
    assert status_of(run)["state"] == "stopped"  # not left "running"
    assert not (run / "checkpoint.pt").exists()
    assert out == ""
    assert err.splitlines()[-1].startswith("lfm: error: aborted by a second Ctrl-C")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_bar_redraws_on_a_terminal_and_prints_tenths_in_a_log():
    def records(bar, total):
        bar.on_train_start({"total_steps": total, "num_parameters": 1234, "device": "cpu"})
        for step in range(10, total + 1, 10):
            bar.on_step_end({"step": step, "epoch": (step - 1) // 100, "loss": 0.5, "routing_entropy": 1.5,
                             "samples_per_s": 2000.0, "time_s": step / 100})
        bar.on_train_end(None)

    log = io.StringIO()
    records(ProgressBar(num_epochs=3, stream=log, tty=False), total=300)
    lines = log.getvalue().splitlines()
    assert lines[0] == "run: training 1,234 parameters on cpu for 300 steps; Ctrl-C stops and saves the run"
    # the first record (something to see early), then one line per 10%, not one per record (30)
    assert len(lines) == 1 + 1 + 10
    assert lines[1].startswith("10/300 steps (3%) | epoch 1/3 |")
    assert lines[2] == ("30/300 steps (10%) | epoch 1/3 | loss 0.5 | H_route 1.50 bits | "
                        "2,000 samples/s | ETA 0:03")
    assert lines[-1].startswith("300/300 steps (100%) | epoch 3/3")

    terminal = io.StringIO()
    records(ProgressBar(num_epochs=3, stream=terminal, tty=True), total=300)
    text = terminal.getvalue()
    assert text.count("\r") == 30 and text.endswith("\n") and text.count("\n") == 2


def test_help_lists_every_setting(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("lambda_entropy", "balance_coef", "csv_path", "val_fraction", "--runs-dir", "--quiet"):
        assert name in out


def run_module(args, cwd, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # see one_thread
    return subprocess.run([sys.executable, "-m", "lfm", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_python_dash_m_lfm_train_with_the_seed_default_files(tmp_path):
    """The seed's own files, unchanged, with one epoch instead of ten (also the default-config run)."""
    write_json(tmp_path, "hyperparameters.json", SEED_HYPERPARAMETERS)
    write_json(tmp_path, "training.json", SEED_TRAINING)

    done = run_module(["train", "--set", "num_epochs=1"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("status             finished: finished 1 epoch\n")
    assert "steps              50 of 50\n" in done.stdout  # 800 training windows / batch_size 16
    assert "hyperparameters.json, training.json, --set num_epochs=1" in done.stdout
    assert "val loss" in done.stdout and "checkpoint" in done.stdout
    assert "50/50 steps (100%)" in done.stderr and "Traceback" not in done.stderr
    run = only_run(tmp_path / "runs")
    assert status_of(run)["state"] == "finished"
    config = json.loads((run / "config.json").read_text())
    assert {k: config["hyperparameters"][k] for k in SEED_HYPERPARAMETERS} == SEED_HYPERPARAMETERS
    assert {k: config["training"][k] for k in SEED_TRAINING} == {**SEED_TRAINING, "num_epochs": 1}


def test_python_dash_m_lfm_bad_input_is_one_line(tmp_path):
    write_json(tmp_path, "training.json", {**SMALL_TRAINING, "num_epochs": -1})
    done = run_module(["train"], tmp_path, timeout=BAD_INPUT_S)  # Python's start included: settings are
    # checked before torch is imported (~0.6 s of CPU, against ~2.5 s with torch)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "lfm: error: training.json: num_epochs = -1 is out of range: allowed integers 1 to 10000"]


def test_the_summary_takes_a_missing_validation_loss_from_lfm_training_evaluate(tmp_path, monkeypatch, capsys):
    """The CLI has no validation loss of its own: a run stopped before its first record asks the loop's."""
    monkeypatch.chdir(tmp_path)
    result = TrainResult("stopped", "stopped by the user at step 0", 0, None, 0.0)
    monkeypatch.setattr("lfm.training.experiment.train_model", lambda *a, **k: result)
    calls = []

    def spy(model, x, y, batch_size=512):
        calls.append((model, x.shape, y.shape))
        return 0.123

    monkeypatch.setattr("lfm.training.evaluate.validation_loss", spy)
    assert main(["train", "--quiet", *TINY]) == 0
    assert "val loss           0.123 vs " in capsys.readouterr().out
    assert len(calls) == 1 and isinstance(calls[0][0], torch.nn.Module) and calls[0][1] == calls[0][2]


# ---- lfm dashboard -------------------------------------------------------------------------------------

def test_dashboard_becomes_streamlit_run_of_the_app_with_the_options_it_was_given(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append((path, argv)))
    monkeypatch.setenv("LFM_RUNS_DIR", "elsewhere")  # restored after the test; --runs-dir replaces it
    main(["dashboard", "--runs-dir", str(tmp_path / "runs"), "--server.port", "8600",
          "--server.headless", "true"])
    ((path, argv),) = started
    assert path == sys.executable
    assert argv == [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"),
                    "--server.port", "8600", "--server.headless", "true"]
    assert os.environ["LFM_RUNS_DIR"] == str(tmp_path / "runs")


@bounded
def test_options_unknown_to_the_other_commands_are_refused(capsys):
    refuses(["runs", "--server.port", "8600"], capsys, "unrecognized arguments: --server.port 8600")
