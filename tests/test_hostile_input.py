"""Bounded work on any input: every hostile file, flag, upload or link value gets a one-line refusal that
names the file or setting, quickly (each case well under 10 s), and user text is shown as text.

Each case here once hung (200,000 keys, 20,000 CSV columns), crashed (100,000-deep JSON: RecursionError),
gave Python's own message (a 5,000-digit number), trained on garbage (values near 1e200 standardised to
zeros), allocated gigabytes (an upload claiming 40,000,000 input features), accepted what the JSON files
refuse (--set num_epochs=1_0) or rendered a link's text as Markdown.
"""
import io
import json
import resource
import zipfile

import pytest
import torch
from streamlit.testing.v1 import AppTest

from lfm.config import ConfigError, RunConfig, json_depth, load_run_config, parse_value, read_json
from lfm.data import DataError, load_csv
from lfm.lab.explore import CheckpointError, load_uploaded_checkpoint
from lfm.nn.model import build_model
from support import bounded, open_app, refuses
from ui.text import plain, shown

TINY = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_samples": 64, "batch_size": 16,
        "num_epochs": 1}
HOSTILE_TEXT = "x` [text](http://evil.example) ![t](http://evil.example/i.png) <b>b</b> # h $x$ *e* www.evil.example"


# ---- settings files ------------------------------------------------------------------------------

HOSTILE_JSON = {
    "200,000 unknown keys": (lambda: json.dumps({f"k{i}": i for i in range(200_000)}), "larger than the limit"),
    "50,000 unknown keys": (lambda: json.dumps({f"k{i}": i for i in range(50_000)}), "50,000 keys, above the limit"),
    "100,000-deep nesting": (lambda: "[" * 100_000 + "]" * 100_000, "nested more than 20 levels deep"),
    "300,000 escaped quotes and brackets": (lambda: '{"a": "' + '\\"[' * 300_000 + '}', "malformed JSON"),
    "a 5,000-digit integer": (lambda: '{"batch_size": ' + "9" * 5000 + "}", "a number of 5,000 characters"),
    "a 5,000-digit fraction": (lambda: '{"learning_rate": 0.' + "1" * 5000 + "}", "a number of 5,002 characters"),
}


@bounded
@pytest.mark.parametrize("flag, file_name", [("--hyperparameters", "hyperparameters.json"),
                                             ("--training", "training.json")])
@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_a_hostile_settings_file_is_refused_quickly_by_the_cli(case, flag, file_name, tmp_path, capsys):
    text, words = HOSTILE_JSON[case]
    path = tmp_path / file_name
    path.write_text(text())
    refuses(["train", flag, str(path), "--runs-dir", str(tmp_path / "runs")], capsys, str(path), words)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, depth", [('{"a": ["x[{", {"b": [1, "\\"]"]}]}', 4), ('[1, "\\\\", [2]]', 2),
                                         ("7", 0), ("[[[]]]", 3)])
def test_json_depth_counts_brackets_outside_strings(text, depth):
    assert json.loads(text) is not None
    assert json_depth(text) == depth


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"name": "[" * 10_000 + "{" * 10_000}))
    assert read_json(path) == {"name": "[" * 10_000 + "{" * 10_000}


def test_the_seed_files_still_load(tmp_path):
    (tmp_path / "hyperparameters.json").write_text(json.dumps({"token_dim": 64, "lambda_entropy": 0.01}))
    (tmp_path / "training.json").write_text(json.dumps({"batch_size": 16, "learning_rate": 1e-3}))
    cfg = load_run_config(tmp_path / "hyperparameters.json", tmp_path / "training.json")
    assert cfg.training.learning_rate == 1e-3 and cfg.model.token_dim == 64


# ---- one grammar for numbers -------------------------------------------------------------------

@bounded
@pytest.mark.parametrize("text", ["1_0", "١٠", "٣", "１０", "+10", ".5", "10.", "0x10", "1e",
                                  "0" * 200 + "1", "9" * 5000])
def test_numbers_json_refuses_are_refused_everywhere(text, tmp_path, capsys):
    with pytest.raises(ValueError):
        json.loads(text)  # the reference: JSON's grammar has no such number
    with pytest.raises(ConfigError, match="num_epochs"):
        parse_value("num_epochs", text)
    err = refuses(["train", "--set", f"num_epochs={text}", "--runs-dir", str(tmp_path)], capsys, "num_epochs")
    assert len(err) < 400  # the value is echoed cut short, not all 5,000 digits of it
    path = tmp_path / "training.json"
    path.write_text('{"num_epochs": ' + text + "}")
    with pytest.raises(ConfigError, match="training.json"):
        load_run_config(None, path)


@pytest.mark.parametrize("text, value", [("10", 10), ("1e1", 10), ("10.0", 10), ("-0.5", -0.5), ("1E-3", 0.001)])
def test_numbers_json_accepts_are_accepted_everywhere(text, value, tmp_path):
    name = "num_epochs" if isinstance(value, int) else "lambda_entropy"
    assert parse_value(name, text) == value
    path = tmp_path / "settings.json"
    path.write_text(f'{{"{name}": {text}}}')
    assert read_json(path)[name] == value


@bounded
def test_a_value_too_large_for_any_setting_is_refused_not_replaced(tmp_path, capsys):
    refuses(["train", "--set", "batch_size=99999999999999999999", "--runs-dir", str(tmp_path)], capsys,
            "batch_size = 99999999999999999999", "out of range")
    with pytest.raises(ConfigError, match="out of range"):
        RunConfig().with_overrides({"batch_size": 99999999999999999999})


# ---- CSV files -------------------------------------------------------------------------------------

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


HOSTILE_CSV = {
    "20,000 columns x 60 rows": (lambda: ",".join(f"c{i}" for i in range(20_000)) + "\n"
                                 + ("1," * 19_999 + "1\n") * 60, "20,000 columns, above the limit of 1,024"),
    "values near 1e200": (lambda: "a\n" + "".join(f"{1e200 * (1 + i % 7)}\n" for i in range(60)),
                          "allowed values up to 1e+100"),
    "values of +-1e308": (lambda: "a\n" + "".join(f"{(-1) ** i * 1e308}\n" for i in range(60)),
                          "allowed values up to 1e+100"),
    "1,000 different labels": (lambda: "a,label\n" + "".join(f"{i},l{i}\n" for i in range(1000)),
                               "1,000 different labels, above the limit"),
}


@bounded
@pytest.mark.parametrize("case", HOSTILE_CSV)
def test_a_hostile_csv_is_refused_quickly(case, tmp_path, capsys):
    text, words = HOSTILE_CSV[case]
    path = write(tmp_path, "data.csv", text())
    with pytest.raises(DataError, match=words.replace("+", r"\+")):
        load_csv(path, sequence_length=4, val_fraction=0.2)
    refuses(["train", "--data", str(path), "--runs-dir", str(tmp_path / "runs")], capsys, "data.csv", words)


def test_too_many_rows_are_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr("lfm.data.MAX_CSV_ROWS", 100)
    path = write(tmp_path, "long.csv", "a\n" + "1\n" * 500)
    with pytest.raises(DataError, match="500 rows, above the limit of 100"):
        load_csv(path, sequence_length=4, val_fraction=0.2)


def test_large_but_representable_values_still_train(tmp_path):
    path = write(tmp_path, "big.csv", "a\n" + "".join(f"{1e90 * (1 + i % 5)}\n" for i in range(60)))
    bundle = load_csv(path, sequence_length=4, val_fraction=0.2)
    assert torch.isfinite(bundle.x_train).all() and bundle.x_train.std() > 0.5  # standardised, not zeros


# ---- uploaded checkpoints --------------------------------------------------------------------------

def checkpoint_bytes(**changes) -> bytes:
    cfg = RunConfig().with_overrides(TINY)
    model = build_model(cfg, 1)
    ckpt = {"model_state": model.state_dict(), "config": cfg.to_dict(), "input_features": 1, "step": 1, **changes}
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    return buffer.getvalue()


@bounded
@pytest.mark.parametrize("features", [40_000_000, 10**12])
def test_claimed_dimensions_are_checked_before_anything_is_allocated(features):
    data = checkpoint_bytes(input_features=features)
    assert len(data) < 200_000
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    with pytest.raises(CheckpointError, match=f"input_features={features}.*refused before building it"):
        load_uploaded_checkpoint(data, "claims.pt")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 200, f"the refusal allocated {grown_mb:.0f} MB"


@bounded
def test_an_archive_that_unpacks_beyond_the_limit_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", b"\0" * (8 * 1024 * 1024))  # 8 MB of zeros in a few kB
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(CheckpointError, match="unpacks to 1 entries of 8.0 MB, above the limits"):
        load_uploaded_checkpoint(buffer.getvalue(), "bomb.pt", max_bytes=1024 * 1024)


def test_a_genuine_upload_still_loads():
    assert load_uploaded_checkpoint(checkpoint_bytes(), "fine.pt").input_features == 1


# ---- user text shown as text -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [HOSTILE_TEXT, "\\[not a link\\](x)", "a_b*c", "plain words 0.5"])
def test_plain_escapes_every_markdown_character_and_shows_the_text(text):
    escaped = plain(text)
    unescaped = [c for i, c in enumerate(escaped) if not c.isalnum() and not c.isspace() and ord(c) < 128
                 and (i == 0 or escaped[i - 1] != "\\") and c != "\\"]
    assert unescaped == []
    assert shown(escaped) == text


def _settings_app():
    import streamlit as st

    from ui.settings import render_settings

    st.session_state["_result"] = render_settings()


def test_a_link_value_is_echoed_as_text_not_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path))
    at = AppTest.from_function(_settings_app, default_timeout=30)
    at.query_params["lambda_entropy"] = HOSTILE_TEXT
    at.run()
    assert not at.exception
    (notice,) = at.warning
    assert "](" not in notice.value and "![" not in notice.value and "<b>" not in notice.value
    assert f"lambda_entropy={HOSTILE_TEXT}" in shown(notice.value)


def test_an_uploaded_file_name_is_shown_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path / "runs"))
    at = open_app("pages/explore.py")
    at.radio(key="explore_source").set_value("Upload a checkpoint").run()
    name = "[click](http://evil.example) ![i](http://evil.example/i.png).pt"
    at.file_uploader(key="explore_upload").upload(name, b"not weights").run()
    assert not at.exception
    (error,) = at.error
    assert "](" not in error.value and "![" not in error.value
    assert name in shown(error.value)


@pytest.mark.parametrize("name", ["batch_size", "num_epochs", "seed"])
def test_a_form_value_too_large_to_represent_is_refused_not_replaced(name, tmp_path, monkeypatch):
    """Streamlit's int widget reset such a value to its default (and its browser side never sent it):
    the form showed 99999999999999999999 and trained the default. Now lfm.config judges it."""
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path))
    at = AppTest.from_function(_settings_app, default_timeout=30)
    at.run()
    at.number_input(key=name).set_value(99999999999999999999).run()
    assert not at.exception
    settings = at.session_state["_result"]
    assert settings.config is None
    assert any(f"{name} = 100000000000000000000 is out of range" in shown(e.value) for e in at.sidebar.error)
