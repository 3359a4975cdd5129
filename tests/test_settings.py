"""Tests for ui/settings.py: the FIELDS-driven settings form, run headless with Streamlit's AppTest.

The app under test calls render_settings() and stores the returned Settings in st.session_state, so
each test reads both what the user would see (widgets, st.error, st.warning) and what the page gets.
"""
import hashlib

import pytest
from streamlit.testing.v1 import AppTest

from lfm.config import FIELDS, RunConfig, estimate_parameters
from lfm.training.loop import available_devices
from ui.text import shown

SPECIALISE = "Specialise (lambda > 0 + balance)"


def _app():
    import streamlit as st

    from ui.settings import render_settings

    st.session_state["_result"] = render_settings()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A fresh, not yet run app whose uploads go to tmp_path."""
    monkeypatch.setenv("LFM_RUNS_DIR", str(tmp_path))
    return AppTest.from_function(_app, default_timeout=30)


def result(at):
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state["_result"]


def test_default_form_gives_the_default_config(app):
    settings = result(app.run())
    assert settings.config == RunConfig()
    assert settings.errors == [] and not app.error
    assert settings.preset == "Default" and settings.name == ""
    assert app.query_params == {}  # defaults never enter the URL
    assert any(f"{estimate_parameters(RunConfig()):,} parameters" in c.value for c in app.caption)


def test_one_widget_per_setting_with_allowed_values_in_help(app):
    app.run()
    widgets = {w.key: w for w in [*app.number_input, *app.selectbox]}
    for f in FIELDS:
        if f.name == "csv_path":
            assert f.name not in widgets  # set by the upload, never typed in
            continue
        assert widgets[f.name].label == f.name
        assert f.allowed in widgets[f.name].help


def test_bad_value_gives_no_config_and_the_validators_message(app):
    app.run()
    app.number_input(key="batch_size").set_value(0).run()
    settings = result(app)
    assert settings.config is None
    assert app.number_input(key="batch_size").value == 0  # kept, not reset: the user typed it
    assert len(app.error) == 1
    assert "batch_size = 0" in shown(app.error[0].value) and "integers 1 to 4096" in shown(app.error[0].value)
    assert not app.warning  # the URL check runs on the first render only


def test_every_bad_setting_is_listed_at_once(app):
    app.run()
    app.number_input(key="batch_size").set_value(0)
    app.number_input(key="lambda_entropy").set_value(99.0).run()
    errors = result(app).errors
    assert len(errors) == 2
    assert any(e.startswith("lambda_entropy = 99") and "-10 to 10" in e for e in errors)


def test_checks_across_settings_come_from_the_config(app):
    app.run()
    app.number_input(key="token_dim").set_value(32).run()
    settings = result(app)
    assert settings.config is None
    assert "channel_dim = 64 must equal token_dim = 32" in settings.errors[0]


def test_preset_fills_in_its_settings(app):
    app.run()
    app.selectbox(key="preset").set_value(SPECIALISE).run()
    settings = result(app)
    assert app.number_input(key="lambda_entropy").value == 0.3
    assert app.number_input(key="balance_coef").value == 0.5
    assert (settings.config.model.lambda_entropy, settings.config.model.balance_coef) == (0.3, 0.5)
    assert settings.preset == SPECIALISE
    assert "load-balance term" in app.caption[0].value  # the preset's description
    # Values set from code are written to the URL by Streamlit itself (user edits by the browser).
    assert app.query_params["lambda_entropy"] == "0.3"
    assert "Changed since" not in app.caption[0].value
    app.number_input(key="lambda_entropy").set_value(0.2).run()  # the user edits it afterwards
    assert "Changed since you chose it: lambda_entropy = 0.2" in app.caption[0].value


def test_url_opens_with_its_settings(app):
    app.query_params["lambda_entropy"] = "0.3"
    app.query_params["preset"] = SPECIALISE
    settings = result(app.run())
    assert app.number_input(key="lambda_entropy").value == 0.3
    assert settings.config.model.lambda_entropy == 0.3 and settings.preset == SPECIALISE
    assert not app.warning and app.query_params["lambda_entropy"] == "0.3"


@pytest.mark.parametrize("text", ["abc", "0", "1.5", "inf", ""])
def test_bad_url_value_falls_back_to_the_default_with_a_notice(app, text):
    # "inf" would even crash a plain bound st.number_input (int(inf) in Streamlit's deserializer).
    app.query_params["batch_size"] = text
    app.query_params["lambda_entropy"] = "0.3"  # a good neighbour is kept
    settings = result(app.run())
    assert app.number_input(key="batch_size").value == 16
    assert settings.config == RunConfig().with_overrides({"lambda_entropy": 0.3})
    assert len(app.warning) == 1 and "batch_size" in shown(app.warning[0].value)
    assert "integers 1 to 4096" in shown(app.warning[0].value)
    assert "batch_size" not in app.query_params and app.query_params["lambda_entropy"] == "0.3"
    layout = [type(e).__name__ for e in app.sidebar.children.values()]
    result(app.run())  # the notice is shown once; the value stays the default
    assert app.number_input(key="batch_size").value == 16 and not app.warning
    # Nothing below the notice moved: a moved element is a new one to the browser (folds expanders).
    assert [type(e).__name__ for e in app.sidebar.children.values()] == layout


@pytest.mark.parametrize("key, text", [("preset", "Nope"), ("dataset", "mnist"), ("device", "tpu"),
                                       ("lambda_schedule", "linear")])
def test_bad_url_choice_falls_back_with_a_notice(app, key, text):
    app.query_params[key] = text
    settings = result(app.run())
    assert settings.config == RunConfig()
    assert len(app.warning) == 1 and f"{key}={text}" in shown(app.warning[0].value)


def test_device_offers_only_what_this_machine_has(app):
    app.run()
    assert app.selectbox(key="device").options == ["auto (default)"] + available_devices()
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    if missing:  # a link made on a GPU machine opens with "auto" here
        at = AppTest.from_function(_app, default_timeout=30)
        at.query_params["device"] = missing[0]
        assert result(at.run()).config.training.device == "auto" and at.warning


def test_dataset_labels_and_the_random_warning(app):
    app.run()
    assert app.selectbox(key="dataset").options == ["random", "regimes (default)",
                                                    "seattle_weather", "csv"]
    assert not app.warning
    app.selectbox(key="dataset").set_value("random").run()
    assert result(app).config.training.dataset == "random"
    assert "nothing to learn" in app.warning[0].value


def test_csv_upload_is_saved_by_content_and_checked(app, tmp_path):
    app.run()
    app.selectbox(key="dataset").set_value("csv").run()
    assert result(app).config is None and "upload a CSV" in result(app).errors[0]

    content = ("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(100))).encode()
    app.file_uploader[0].set_value(("../my data.csv", content, "text/csv")).run()
    settings = result(app)
    expected = tmp_path / "uploads" / f"{hashlib.sha256(content).hexdigest()[:16]}.csv"
    assert settings.errors == [] and settings.config.training.csv_path == str(expected)
    assert expected.read_bytes() == content

    app.file_uploader[0].set_value(("bad.csv", b"a,b\n1,x\n2,3\n", "text/csv")).run()
    settings = result(app)
    assert settings.config is None
    assert "bad.csv" in settings.errors[0] and "'b' is not numeric" in settings.errors[0]


def test_run_name_is_returned_stripped(app):
    app.run()
    app.text_input(key="run_name").input("  lambda 0.3  ").run()
    assert result(app).name == "lambda 0.3"


# A valid value other than the default for every setting the form shows (csv_path comes from an upload).
NON_DEFAULTS = {"token_dim": 32, "channel_dim": 32, "expert_dim": 32, "adapt_dim": 16, "num_experts": 3,
                "lambda_entropy": 0.25, "balance_coef": 0.4, "batch_size": 8, "sequence_length": 12,
                "num_samples": 400, "num_epochs": 3, "learning_rate": 0.002, "dataset": "seattle_weather",
                "device": "cpu", "seed": 7, "log_every": 5, "val_fraction": 0.25, "gate_summary": "conv",
                "regime_levels": "shared", "lambda_schedule": "cosine", "lambda_warmup": 0.4}


def test_every_setting_round_trips_through_the_url(app):
    """A shared link reopens every setting: URL text -> widget -> RunConfig, and back to the same text."""
    from lfm.config import format_value

    assert set(NON_DEFAULTS) == {f.name for f in FIELDS} - {"csv_path"}
    for name, value in NON_DEFAULTS.items():
        app.query_params[name] = format_value(name, value)
    settings = result(app.run())
    assert not app.warning, [w.value for w in app.warning]
    assert settings.config is not None, settings.errors
    flat = settings.config.flat()
    for name, value in NON_DEFAULTS.items():
        assert flat[name] == value, name
        assert app.query_params[name] == format_value(name, value), name  # still in the URL, unchanged
