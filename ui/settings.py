"""The settings form of the dashboard, drawn entirely from lfm.config.FIELDS.

render_settings() draws one widget per setting (key = the setting's name), a preset picker and a CSV
uploader, and returns a Settings: a validated RunConfig, or None and the validator's messages. The
form never judges a value itself: lfm.config does, so the form, the JSON files, the CLI and the URL
all give the same message for the same mistake (hence no min_value/max_value on number inputs).

Shareable links: every widget is bound to the query parameter of its key (bind="query-params",
Streamlit 1.67). Streamlit seeds a bound widget from the URL on its first run, removes the parameter
while the value equals the widget's default, and refuses st.query_params writes to a bound key.
No st.form: the form validates as the user types, and inside a form the URL would run ahead of what
Python has. What Streamlit does *not* do is reject a value that parses but is out of range
(?batch_size=0 is seeded as 0; ?batch_size=inf even raises OverflowError), so the first render of a
session checks the URL against FIELDS first and drops, with a notice and one rerun, what the form
cannot use.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lfm.config import (FIELDS, PARAMETER_BUDGET, ConfigError, Field, RunConfig,
                        check_value, estimate_parameters, field_by_name, format_value, load_presets,
                        parse_value)
from lfm.data import DataError, load_csv
from lfm.datasets import DATASETS
from lfm.training.loop import available_devices
from lfm.lab.backends import available_backends
from ui.state import default_backend, runs_dir
from ui.text import plain

# Expander title -> (settings in it, open by default). Regularisation is what users play with.
SECTIONS = {
    "Regularisation": (("lambda_entropy", "lambda_schedule", "lambda_warmup", "balance_coef"), True),
    "Model": (("token_dim", "channel_dim", "expert_dim", "adapt_dim", "num_experts", "gate_summary"), False),
    "Training": (("batch_size", "sequence_length", "num_samples", "num_epochs", "learning_rate",
                  "seed", "log_every", "val_fraction"), False),
    "Data": (("dataset", "regime_levels"), False),
    "Device": (("device",), False),
}
STEPS = {"lambda_entropy": 0.05, "lambda_warmup": 0.05, "balance_coef": 0.05, "learning_rate": 1e-4, "val_fraction": 0.05}
FORMATS = {"learning_rate": "%.4g", "val_fraction": "%.2f", "lambda_warmup": "%.2f"}  # other floats "%.3g", ints "%.12g"
PRESET_KEY = "preset"
MAX_UPLOAD_MB = 20
_URL_CHECKED = "_settings_url_checked"  # session flag: the URL is checked on the first render only
_URL_NOTICES = "_settings_url_notices"  # what that check dropped, shown on the run after it

# csv_path is not typed in: it is the content-addressed copy of an upload (see _csv_path).
WIDGET_FIELDS = tuple(name for names, _ in SECTIONS.values() for name in names)
assert sorted(WIDGET_FIELDS) == sorted(f.name for f in FIELDS if f.name != "csv_path"), \
    "every setting in lfm.config.FIELDS needs a place in SECTIONS"


@dataclass
class Settings:
    """What the form holds: a config ready to train, or the reasons there is none."""
    config: RunConfig | None  # the validated config; None while any setting is invalid
    errors: list[str]         # validator messages, each naming the setting, its value and what is allowed
    name: str                 # run name typed by the user, stripped; may be empty
    preset: str               # preset last chosen (its values may have been edited since)
    backend: str = "thread"   # where the run trains: lfm.lab.backends (thread, process, ray)


def _plain(e: ConfigError) -> str:
    """A config message without its source ('training.json'): the form has no files."""
    return e.message


def _label(f: Field):
    """Selectbox labels; the URL holds the label, and only the default's label has a suffix, so
    shared links read ?dataset=random, never a decorated label (the default never enters the URL)."""
    return lambda option: f"{option} (default)" if option == f.default else option


def _options(presets: dict) -> dict[str, list[str]]:
    """The choices each selectbox offers: device only what this machine has."""
    options = {f.name: list(f.choices) for f in FIELDS if f.choices}
    options["device"] = ["auto"] + [d for d in available_devices() if d in options["device"]]
    options[PRESET_KEY] = list(presets)
    return options


def _check_url(options: dict[str, list[str]]) -> None:
    """On a session's first render, drop URL values the form cannot use, note why, and rerun.

    Streamlit seeds bound widgets from the URL as it was when the run started, even over
    st.session_state, so a bad value is taken out of st.query_params (allowed: nothing is bound
    yet) and the run restarted; every widget is then bound from its first run on, so the browser
    keeps the URL in step with later edits."""
    if st.session_state.get(_URL_CHECKED):
        return
    st.session_state[_URL_CHECKED] = True
    notices = []
    for key in list(st.query_params):
        if key != PRESET_KEY and key not in WIDGET_FIELDS:
            continue  # not ours (another page's or the lead's parameter)
        text = st.query_params[key]
        try:
            if key == PRESET_KEY:
                if text not in options[key]:
                    raise ConfigError(f"there is no preset called {text!r}")
            else:
                f = field_by_name(key)
                value = parse_value(key, text.removesuffix(" (default)") if f.choices else text)
                if f.choices and value not in options[key]:
                    raise ConfigError(f"{key} = {value!r} is not available here: allowed one of "
                                      f"{', '.join(map(repr, options[key]))}")
        except ConfigError as e:
            default = options[key][0] if key == PRESET_KEY else field_by_name(key).default
            notices.append(f"Link parameter {key}={text} ignored, using the default {default!r}: {_plain(e)}")
            try:
                del st.query_params[key]
            except StreamlitAPIException:
                pass  # bound already (session state was cleared): not an initial load, URL not used
    if notices:
        st.session_state[_URL_NOTICES] = notices
        st.rerun()  # st.rerun keeps the URL as edited above


def _apply_preset(presets: dict) -> None:
    """on_change of the preset picker: runs before the script, so the widgets show the new values."""
    for name, value in presets[st.session_state[PRESET_KEY]].overrides.items():
        if name in WIDGET_FIELDS:  # csv_path has no widget; a preset cannot upload a file
            f = field_by_name(name)
            st.session_state[name] = value if f.choices else float(value)  # every number widget is a float one


def _widget(box, f: Field, options: dict[str, list[str]]):
    help_text = f"{f.help}\n\nAllowed: {f.allowed}."
    if f.choices:
        return box.selectbox(f.name, options[f.name], index=options[f.name].index(f.default),
                             format_func=_label(f), key=f.name, help=help_text,
                             bind="query-params")
    # Integer settings get a float widget too. Streamlit's int widget cannot hold a number beyond
    # JavaScript's safe integers (2^53): its browser side does not send one, and its Python side resets
    # one to the default, so 99999999999999999999 typed into batch_size trained 16 without a word. A
    # float widget passes any number on, for lfm.config to judge: 64.0 is 64; 1.5 and 1e20 are refused.
    fmt = FORMATS.get(f.name, "%.12g" if f.type is int else "%.3g")  # %.12g: every allowed integer in full
    value = box.number_input(f.name, value=float(f.default), step=float(STEPS.get(f.name, 1)), format=fmt,
                             key=f.name, help=help_text, bind="query-params")
    return int(value) if f.type is int and value is not None and value.is_integer() else value


@st.cache_data(show_spinner=False, max_entries=32)
def _csv_problem(path: str, sequence_length: int, val_fraction: float) -> str | None:
    """load_csv's DataError message, or None; cached because a rerun happens on every click."""
    try:
        load_csv(path, sequence_length, val_fraction)
    except DataError as e:
        return str(e)
    return None


def _csv_path(box, values: dict) -> tuple[str | None, list[str]]:
    """Save the upload under runs_dir()/uploads/<sha256[:16]>.csv and check it; (path, errors)."""
    upload = box.file_uploader(f"CSV file (numeric columns, at most {MAX_UPLOAD_MB} MB)", type="csv",
                               key="csv_upload", max_upload_size=MAX_UPLOAD_MB,
                               help=field_by_name("csv_path").help)
    if upload is None:
        return None, ['dataset = "csv" needs a file: upload a CSV above']
    if upload.size > MAX_UPLOAD_MB * 1024 * 1024:  # the browser enforces it too; never trust that
        return None, [f"{upload.name} is {upload.size / 2**20:.1f} MB: allowed at most {MAX_UPLOAD_MB} MB"]
    content = upload.getvalue()
    # The name comes from the content, never from the user: no path tricks, and re-uploads dedupe.
    path = runs_dir() / "uploads" / f"{hashlib.sha256(content).hexdigest()[:16]}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")  # no reader sees half a file
        tmp.write_bytes(content)
        os.replace(tmp, path)
    try:  # load_csv needs a usable window length and split; their own errors are reported anyway
        S = check_value("sequence_length", values["sequence_length"])
        val_fraction = check_value("val_fraction", values["val_fraction"])
    except ConfigError:
        return str(path), []
    problem = _csv_problem(str(path), S, val_fraction)
    return str(path), [problem.replace(path.name, upload.name)] if problem else []


def render_settings(container=None) -> Settings:
    """Draw the settings form in container (default: the sidebar) and validate what it holds.

    On a session's first run with a bad link it calls st.rerun() once (see _check_url): code
    around it must let Streamlit's control-flow exceptions (BaseException) through."""
    box = container if container is not None else st.sidebar
    presets = load_presets()
    options = _options(presets)
    _check_url(options)
    # Always a container here, even empty: an element that comes and goes would shift the position
    # of everything below it, and the browser would then reset them (expanders fold up).
    notices = box.container()
    for notice in st.session_state.pop(_URL_NOTICES, []):
        notices.warning(plain(notice), icon="🔗")  # the link's text, shown as typed (ui/text.py)

    preset = box.selectbox("Preset", options[PRESET_KEY], key=PRESET_KEY, on_change=_apply_preset,
                           args=(presets,), bind="query-params",
                           help="Fills in the regularisation settings of a classroom experiment.")
    description = box.empty()  # filled below, once the widgets say whether the preset was edited
    problems = box.container()  # errors go here, near the top where they are seen (always present: no shift)

    values, errors = {}, []
    for title, (names, expanded) in SECTIONS.items():
        section = box.expander(title, expanded=expanded)
        for name in names:
            values[name] = _widget(section, field_by_name(name), options)
        if title == "Data":
            data = DATASETS[values["dataset"]]
            if not data.learnable:  # say it plainly: a run on noise learns nothing
                section.warning(data.note)
            else:
                section.caption(data.note)
            values["csv_path"] = None
            if data.needs_file:
                values["csv_path"], csv_errors = _csv_path(section, values)
                errors += csv_errors
    name = box.text_input("Run name (optional)", key="run_name", max_chars=80,
                          placeholder="e.g. lambda 0.3 + balance").strip()
    backend = backend_choice(box)

    # Every setting on its own first, so all bad values are listed at once; then the checks across
    # settings (equal widths, budgets), which with_overrides runs when it builds the RunConfig.
    for key in WIDGET_FIELDS:
        try:
            check_value(key, values[key])
        except ConfigError as e:
            errors.append(_plain(e))
    config = None
    if not errors:
        try:
            config = RunConfig().with_overrides(values)
        except ConfigError as e:
            errors.append(_plain(e))

    try:  # the estimate also explains a model refused for its size, so show it for invalid values
        params = estimate_parameters({key: values[key] for key in WIDGET_FIELDS})
        over = f" (above the budget of {PARAMETER_BUDGET:,})" if params > PARAMETER_BUDGET else ""
        box.caption(f"Model size: about {params:,} parameters{over}")
    except (TypeError, ValueError, OverflowError):
        pass
    edited = [f"{k} = {format_value(k, values[k])}" for k, v in presets[preset].overrides.items()
              if k in values and values[k] != v]
    description.caption(presets[preset].description
                        + (f" *Changed since you chose it: {', '.join(edited)}.*" if edited else ""))
    for message in errors:
        problems.error(plain(message))  # values and file names as typed, never Markdown
    return Settings(config=config, errors=errors, name=name, preset=preset, backend=backend)


BACKEND_LABELS = {"thread": "this dashboard (a thread)", "process": "a worker process", "ray": "Ray"}
BACKEND_HELP = ("Where a run trains. A thread of this dashboard is steered in memory; a worker process "
                "has its own interpreter, so training does not slow the pages down (Python's GIL), and "
                "a crash in it ends only that run; Ray runs it as a task of a local Ray or of the cluster "
                "in RAY_ADDRESS. Every run is steered and shown the same way, through its run folder. "
                "Ray is offered only where it is installed.")


def where_runs_train(backend: str) -> str:
    """The note a page that queues runs shows under its button: 'they train on <backend> ...'."""
    return f"they train on {BACKEND_LABELS[backend]} ('Train on', in the sidebar)"


def backend_choice(box) -> str:
    """The 'Train on' select box: the backends this machine offers, the dashboard's default first."""
    options = available_backends()
    default = default_backend()
    return box.selectbox("Train on", options, index=options.index(default) if default in options else 0,
                         key="backend", format_func=BACKEND_LABELS.get, help=BACKEND_HELP)
