"""Tests for lfm/config.py: defaults, seed files, round trips, every class of bad input, presets."""
import dataclasses
import json
import math

import pytest

from lfm.config import (ASSETS_DIR, FIELDS, GENERATED_WEIGHTS_BUDGET, PARAMETER_BUDGET, ConfigError,
                        ModelConfig, RunConfig, TrainingConfig, check_value, estimate_generated_weights,
                        estimate_parameters, field_by_name, fields_in, format_value, load_presets,
                        load_run_config, parse_value, save_run_config, settings_of)

DESIGN_MODEL = dict(token_dim=64, channel_dim=64, expert_dim=64, adapt_dim=32, num_experts=4,
                    lambda_entropy=0.01)
DESIGN_TRAINING = dict(batch_size=16, sequence_length=10, num_samples=1000, num_epochs=10,
                       learning_rate=0.001)
EXTRA_MODEL = dict(lambda_schedule="constant", lambda_warmup=0.25, balance_coef=0.0, gate_summary="mean")
EXTRA_TRAINING = dict(dataset="regimes", regime_levels="distinct", csv_path=None, device="auto", seed=0,
                      log_every=10, val_fraction=0.2)


def write(folder, name, content):
    """Write a dict as seed-style JSON, or a string as is; return the path."""
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=4))
    return path


# --- defaults and FIELDS -------------------------------------------------------------------------

def test_defaults_equal_design_values():
    cfg = RunConfig()
    assert cfg.model.to_dict() == {**DESIGN_MODEL, **EXTRA_MODEL}
    assert cfg.training.to_dict() == {**DESIGN_TRAINING, **EXTRA_TRAINING}
    assert list(cfg.to_dict()) == ["hyperparameters", "training"]


def test_fields_drive_the_dataclasses_in_order():
    for cls in (ModelConfig, TrainingConfig):
        names = [f.name for f in dataclasses.fields(cls)]
        assert names == [f.name for f in fields_in(cls.group)]
        assert [f.default for f in dataclasses.fields(cls)] == [f.default for f in fields_in(cls.group)]
    assert len({f.name for f in FIELDS}) == len(FIELDS)
    for f in FIELDS:
        assert f.help and f.allowed and f.group in ("hyperparameters", "training")
        assert check_value(f.name, f.default) == f.default  # every default is itself valid
    assert field_by_name("batch_size").allowed == "integers 1 to 4096"


def test_assets_hold_the_defaults_in_saved_format(tmp_path):
    cfg = load_run_config(ASSETS_DIR / "hyperparameters.json", ASSETS_DIR / "training.json")
    assert cfg == RunConfig()
    save_run_config(RunConfig(), tmp_path)
    for name in ("hyperparameters.json", "training.json"):
        assert (ASSETS_DIR / name).read_text() == (tmp_path / name).read_text()


# --- seed files and round trips ------------------------------------------------------------------

def test_seed_files_load_unchanged(tmp_path):
    hp = write(tmp_path, "hyperparameters.json", DESIGN_MODEL)
    tr = write(tmp_path, "training.json", DESIGN_TRAINING)
    cfg = load_run_config(hp, tr)
    assert cfg == RunConfig()
    for key, value in {**DESIGN_MODEL, **DESIGN_TRAINING}.items():
        got = cfg.flat()[key]
        assert got == value and type(got) is type(value)
    # a seed file with other values keeps them, and the missing extras take defaults
    hp = write(tmp_path, "hyperparameters.json", {**DESIGN_MODEL, "num_experts": 8, "lambda_entropy": 0})
    cfg = load_run_config(hp)
    assert cfg.model.num_experts == 8 and cfg.model.lambda_entropy == 0.0
    assert type(cfg.model.lambda_entropy) is float and cfg.model.balance_coef == 0.0


def test_missing_paths_mean_defaults():
    assert load_run_config() == RunConfig()


def test_new_settings_round_trip_through_the_files(tmp_path):
    cfg = RunConfig().with_overrides({"gate_summary": "conv", "regime_levels": "shared",
                                      "lambda_schedule": "cosine", "lambda_warmup": 0.1})
    save_run_config(cfg, tmp_path)
    hyperparameters = json.loads((tmp_path / "hyperparameters.json").read_text())
    assert hyperparameters["gate_summary"] == "conv"
    assert (hyperparameters["lambda_schedule"], hyperparameters["lambda_warmup"]) == ("cosine", 0.1)
    assert json.loads((tmp_path / "training.json").read_text())["regime_levels"] == "shared"
    assert load_run_config(tmp_path / "hyperparameters.json", tmp_path / "training.json") == cfg


def test_save_then_load_round_trip(tmp_path):
    cfg = RunConfig().with_overrides({"token_dim": 16, "channel_dim": 16, "expert_dim": 16,
                                      "lambda_entropy": -0.25, "balance_coef": 0.5, "dataset": "csv",
                                      "csv_path": "data/my file.csv", "device": "cpu", "seed": 7})
    hp_path, tr_path = save_run_config(cfg, tmp_path / "run")
    assert load_run_config(hp_path, tr_path) == cfg
    assert list(json.loads(tr_path.read_text())) == [f.name for f in fields_in("training")]
    assert hp_path.read_text().startswith('{\n    "token_dim": 16,\n')
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_integral_floats_are_read_as_integers(tmp_path):
    cfg = load_run_config(write(tmp_path, "h.json", {"adapt_dim": 16.0}))
    assert cfg.model.adapt_dim == 16 and type(cfg.model.adapt_dim) is int


def test_configs_are_immutable_and_overrides_return_new_ones():
    cfg = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.lambda_entropy = 0.5
    new = cfg.with_overrides({"lambda_entropy": "0.3", "batch_size": 32, "csv_path": ""})
    assert (new.model.lambda_entropy, new.training.batch_size, new.training.csv_path) == (0.3, 32, None)
    assert cfg == RunConfig()


# --- bad inputs: every class gives a ConfigError naming the field, the value and what is allowed ---

BAD_FILES = [
    # id, file, content, field at fault, text the message must contain
    ("wrong type", "hyperparameters", {"token_dim": "64"}, "token_dim", "integers 1 to 1024"),
    ("bool is not int", "hyperparameters", {"num_experts": True}, "num_experts", "integers 1 to 64"),
    ("fractional int", "hyperparameters", {"adapt_dim": 32.5}, "adapt_dim", "integers 1 to 512"),
    ("list value", "training", {"seed": [1]}, "seed", "integers 0 to 2147483647"),
    ("out of range low", "training", {"batch_size": 0}, "batch_size", "integers 1 to 4096"),
    ("out of range high", "hyperparameters", {"lambda_entropy": 11}, "lambda_entropy",
     "numbers -10 to 10"),
    ("exclusive min", "training", {"learning_rate": 0}, "learning_rate", "numbers above 0 up to 1"),
    ("NaN", "hyperparameters", '{"lambda_entropy": NaN}', "lambda_entropy", "numbers -10 to 10"),
    ("Infinity", "training", '{"learning_rate": Infinity}', "learning_rate", "above 0 up to 1"),
    ("null", "training", {"num_epochs": None}, "num_epochs", "integers 1 to 10000"),
    ("unknown key", "hyperparameters", {"tokn_dim": 64}, "tokn_dim", "token_dim, channel_dim"),
    ("key of the other file", "hyperparameters", {"batch_size": 8}, "batch_size", "training.json"),
    ("duplicate key", "training", '{"seed": 1, "seed": 2}', "seed", "twice"),
    ("dims mismatch", "hyperparameters", {"channel_dim": 32}, "channel_dim", "equal to token_dim"),
    ("expert dims mismatch", "hyperparameters", {"expert_dim": 128}, "expert_dim", "equal to token_dim"),
    ("csv without path", "training", {"dataset": "csv"}, "csv_path", "a file path when dataset is 'csv'"),
    ("path without csv", "training", {"csv_path": "a.csv"}, "csv_path", "otherwise null"),
    ("bad choice", "training", {"dataset": "mnist"}, "dataset", "'regimes'"),
    ("bad device", "training", {"device": "gpu"}, "device", "'auto', 'cpu', 'cuda', 'mps'"),
    ("bad summary", "hyperparameters", {"gate_summary": "attention"}, "gate_summary", "'mean', 'conv'"),
    ("summary not text", "hyperparameters", {"gate_summary": 1}, "gate_summary", "'mean', 'conv'"),
    ("bad levels", "training", {"regime_levels": "same"}, "regime_levels", "'distinct', 'shared'"),
    ("bad schedule", "hyperparameters", {"lambda_schedule": "linear"}, "lambda_schedule",
     "'constant', 'warmup', 'cosine'"),
    ("schedule not text", "hyperparameters", {"lambda_schedule": 0}, "lambda_schedule",
     "'constant', 'warmup', 'cosine'"),
    ("warmup above 1", "hyperparameters", {"lambda_warmup": 1.5}, "lambda_warmup", "numbers 0 to 1"),
    ("warmup negative", "hyperparameters", {"lambda_warmup": -0.1}, "lambda_warmup", "numbers 0 to 1"),
    ("warmup as text", "hyperparameters", {"lambda_warmup": "0.5"}, "lambda_warmup", "numbers 0 to 1"),
    ("batch above windows", "training", {"batch_size": 801}, "batch_size", "allowed integers 1 to 800"),
    ("parameter budget", "hyperparameters",
     {"token_dim": 512, "channel_dim": 512, "expert_dim": 512, "adapt_dim": 128}, "adapt_dim",
     f"{PARAMETER_BUDGET:,}"),
]


@pytest.mark.parametrize("group, content, field, allowed", [case[1:] for case in BAD_FILES],
                         ids=[case[0] for case in BAD_FILES])
def test_bad_file_gives_config_error(tmp_path, group, content, field, allowed):
    path = write(tmp_path, f"{group}.json", content)
    with pytest.raises(ConfigError) as info:
        load_run_config(**{f"{group}_path": path})
    message = str(info.value)
    assert field in message and allowed in message, message
    if "budget" not in message:  # the budget spans both files; every other check names its file
        assert message.startswith(f"{path}: "), message


def test_message_reads_as_documented(tmp_path):
    path = write(tmp_path, "training.json", {"batch_size": 0})
    with pytest.raises(ConfigError) as info:
        load_run_config(training_path=path)
    assert str(info.value) == f"{path}: batch_size = 0 is out of range: allowed integers 1 to 4096"
    assert info.value.field == "batch_size"


@pytest.mark.parametrize("group, content, field, allowed", [case[1:] for case in BAD_FILES],
                         ids=[case[0] for case in BAD_FILES])
def test_config_error_carries_source_field_and_message(tmp_path, group, content, field, allowed):
    path = write(tmp_path, f"{group}.json", content)
    with pytest.raises(ConfigError) as info:
        load_run_config(**{f"{group}_path": path})
    e = info.value
    assert field in e.message and allowed in e.message
    assert str(e) == f"{e.source}: {e.message}"  # the one line the CLI prints, put together
    if "budget" in e.message:  # the parameter budget: no single setting at fault, both files involved
        assert (e.field, e.source) == (None, "hyperparameters.json")
    else:
        assert (e.field, e.source) == (field, str(path))
    assert not e.message.startswith(str(path))  # the message leaves the source to .source


def test_config_error_source_is_optional_and_survives_pickling():
    import pickle

    with pytest.raises(ConfigError) as info:
        check_value("batch_size", 0, source="the form")
    assert (info.value.source, info.value.field) == ("the form", "batch_size")
    assert info.value.message == "batch_size = 0 is out of range: allowed integers 1 to 4096"
    with pytest.raises(ConfigError) as info:
        field_by_name("nope")
    assert info.value.source is None and str(info.value) == info.value.message
    copy = pickle.loads(pickle.dumps(ConfigError("x = 1 is wrong", "x", "a.json")))
    assert (str(copy), copy.message, copy.field, copy.source) == ("a.json: x = 1 is wrong", "x = 1 is wrong",
                                                                   "x", "a.json")


def test_parse_value_names_the_file_of_the_setting_as_source():
    with pytest.raises(ConfigError) as info:
        parse_value("num_epochs", "ten")
    assert info.value.source == "training.json" and info.value.message.startswith("num_epochs = ")


@pytest.mark.parametrize("f", [f for f in FIELDS if f.type is not str], ids=lambda f: f.name)
def test_every_number_setting_checks_both_ends(f):
    low = f.min if f.min_exclusive else f.min - (1 if f.type is int else 0.01)
    for value in (low, f.max + 1):
        with pytest.raises(ConfigError) as info:
            check_value(f.name, f.type(value))
        assert f.name in str(info.value) and f.allowed in str(info.value)
        assert info.value.field == f.name
    assert check_value(f.name, f.max) == f.max
    assert check_value(f.name, f.min if not f.min_exclusive else f.min + 1e-9) > f.min - 1e-12


@pytest.mark.parametrize("text, needle", [
    ("{\n    \"token_dim\": 64,\n}\n", "line 3"),       # trailing comma
    ("{\"token_dim\": 64", "line 1"),                   # unclosed
    ("", "line 1, column 1"),                            # empty file
])
def test_malformed_json_reports_path_line_and_column(tmp_path, text, needle):
    path = write(tmp_path, "hyperparameters.json", text)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert str(path) in str(info.value) and needle in str(info.value) and "column" in str(info.value)


@pytest.mark.parametrize("text", ["[1, 2]", "64", "\"token_dim\"", "null"])
def test_non_object_json_is_refused(tmp_path, text):
    with pytest.raises(ConfigError, match="top level must be a JSON object"):
        load_run_config(write(tmp_path, "hyperparameters.json", text))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_run_config(tmp_path / "nope.json")


def test_parameter_budget_message_gives_estimate_and_budget():
    big = {"token_dim": 512, "channel_dim": 512, "expert_dim": 512, "adapt_dim": 128}
    estimate = estimate_parameters(big)
    assert estimate > PARAMETER_BUDGET
    with pytest.raises(ConfigError) as info:
        RunConfig().with_overrides(big)
    assert f"{estimate:,}" in str(info.value) and f"{PARAMETER_BUDGET:,}" in str(info.value)


def test_generated_weights_budget():
    big = {"token_dim": 256, "channel_dim": 256, "expert_dim": 256, "adapt_dim": 8, "num_experts": 16,
           "batch_size": 4096, "num_samples": 10_000}
    assert estimate_parameters(big) <= PARAMETER_BUDGET
    assert estimate_generated_weights(big) > GENERATED_WEIGHTS_BUDGET
    with pytest.raises(ConfigError, match="batch_size = 4096") as info:
        RunConfig().with_overrides(big)
    assert info.value.field == "batch_size"
    RunConfig().with_overrides({**big, "batch_size": 128})  # the same model with smaller batches is fine


def test_batch_check_applies_to_synthetic_data_only():
    cfg = RunConfig().with_overrides({"batch_size": 800})  # exactly the 800 training windows
    assert cfg.training.num_train_windows == 800
    RunConfig().with_overrides({"batch_size": 2000, "dataset": "seattle_weather"})
    with pytest.raises(ConfigError, match="batch_size"):
        RunConfig().with_overrides({"batch_size": 2000, "dataset": "random"})


def test_unknown_override_lists_known_settings():
    with pytest.raises(ConfigError) as info:
        RunConfig().with_overrides({"lamda_entropy": 0.3})
    assert "did you mean 'lambda_entropy'" in str(info.value) and "val_fraction" in str(info.value)
    assert info.value.field == "lamda_entropy"


def test_from_dict_rejects_unknown_groups():
    with pytest.raises(ConfigError, match="hyperparameters, training"):
        RunConfig.from_dict({"hyperparameters": {}, "model": {}})


# --- parse_value / format_value -----------------------------------------------------------------

@pytest.mark.parametrize("name, text, expected", [
    ("token_dim", "64", 64), ("token_dim", " 32 ", 32), ("num_samples", "1e4", 10_000),
    ("adapt_dim", "16.0", 16), ("lambda_entropy", "0.3", 0.3), ("lambda_entropy", "-1e-2", -0.01),
    ("balance_coef", "1", 1.0), ("learning_rate", "0.001", 0.001), ("dataset", "csv", "csv"),
    ("device", " cpu ", "cpu"), ("csv_path", "data/x.csv", "data/x.csv"), ("csv_path", "", None),
    ("gate_summary", "conv", "conv"), ("regime_levels", " shared ", "shared"),
    ("lambda_schedule", "cosine", "cosine"), ("lambda_warmup", "0.5", 0.5), ("lambda_warmup", "1", 1.0),
    ("csv_path", "None", None), ("csv_path", "null", None),
])
def test_parse_value(name, text, expected):
    value = parse_value(name, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("name, text, allowed", [
    ("token_dim", "abc", "integers 1 to 1024"), ("token_dim", "64.5", "integers 1 to 1024"),
    ("token_dim", "true", "integers 1 to 1024"), ("num_experts", "0", "integers 1 to 64"),
    ("lambda_entropy", "nan", "numbers -10 to 10"), ("lambda_entropy", "inf", "numbers -10 to 10"),
    ("learning_rate", "0", "above 0 up to 1"), ("dataset", "Regimes", "'regimes'"),
    ("device", "", "'auto'"), ("gate_summary", "Conv", "'mean', 'conv'"),
    ("regime_levels", "", "'distinct', 'shared'"), ("lambda_schedule", "Warmup", "'constant', 'warmup'"),
    ("lambda_warmup", "1.01", "numbers 0 to 1"), ("lambda_warmup", "50%", "numbers 0 to 1"),
])
def test_parse_value_refuses(name, text, allowed):
    with pytest.raises(ConfigError) as info:
        parse_value(name, text)
    assert name in str(info.value) and allowed in str(info.value)


def test_parse_value_unknown_name():
    with pytest.raises(ConfigError, match="unknown setting 'foo'"):
        parse_value("foo", "1")


def test_format_value_round_trips_every_setting():
    cfg = RunConfig().with_overrides({"dataset": "csv", "csv_path": "x.csv", "learning_rate": 3e-05,
                                      "gate_summary": "conv", "regime_levels": "shared",
                                      "lambda_schedule": "warmup", "lambda_warmup": 0.1})
    for config in (RunConfig(), cfg):
        for name, value in config.flat().items():
            back = parse_value(name, format_value(name, value))
            assert back == value and type(back) is type(value)


# --- parameter estimate --------------------------------------------------------------------------

def test_estimate_parameters_default_by_hand():
    S, D, A, E = 10, 64, 32, 4
    adaptive = lambda n: n * n + n + A * n * n + n * n  # weight, bias, adapt Linear(A, n*n) + its bias
    expected = adaptive(S) + adaptive(D) + E * adaptive(D) + (A * E + E) + (D * A + A) + (D * D + D)
    assert estimate_parameters(RunConfig()) == expected == 706_422
    assert estimate_parameters({}) == expected  # a mapping: missing settings take defaults


def test_estimate_parameters_matches_the_model_roughly():
    from lfm.nn.model import build_model

    cfg = RunConfig().with_overrides({"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4,
                                      "num_experts": 3, "sequence_length": 5})
    model = build_model(cfg, input_features=8)
    counted = sum(p.numel() for p in model.parameters())
    # normalisation layers or an input projection may add a few: allow 10 %
    assert abs(counted - estimate_parameters(cfg)) <= 0.1 * estimate_parameters(cfg)


# --- presets -------------------------------------------------------------------------------------

def test_presets_all_validate_and_teach_the_right_sign():
    presets = load_presets()
    assert list(presets) == ["Default", "No regularisation", "Sharpen (lambda > 0)",
                             "Collapse (strong lambda)", "Specialise (lambda > 0 + balance)",
                             "Spread (lambda < 0)", "Blind gate", "Seeing gate"]
    lam = {name: RunConfig().with_overrides(p.overrides).model.lambda_entropy
           for name, p in presets.items()}
    assert lam["Default"] == 0.01 and lam["No regularisation"] == 0
    assert 0 < lam["Sharpen (lambda > 0)"] < lam["Collapse (strong lambda)"]
    assert lam["Specialise (lambda > 0 + balance)"] > 0 and lam["Spread (lambda < 0)"] < 0
    assert presets["Specialise (lambda > 0 + balance)"].overrides["balance_coef"] > 0
    for description, overrides in presets.values():
        assert len(description) > 20 and set(overrides) <= {f.name for f in FIELDS}


def test_blind_and_seeing_gate_differ_only_in_the_summary():
    """The pair is a controlled experiment: shared levels, lambda > 0 + balance, one setting apart."""
    presets = load_presets()
    blind, seeing = (RunConfig().with_overrides(presets[name].overrides).flat()
                     for name in ("Blind gate", "Seeing gate"))
    assert {name for name in blind if blind[name] != seeing[name]} == {"gate_summary"}
    assert (blind["gate_summary"], seeing["gate_summary"]) == ("mean", "conv")
    assert blind["regime_levels"] == "shared" and blind["lambda_entropy"] > 0 and blind["balance_coef"] > 0


def test_gate_summary_choices_are_the_models():
    from lfm.nn.summary import GATE_SUMMARIES

    assert field_by_name("gate_summary").choices == GATE_SUMMARIES


@pytest.mark.parametrize("content, needle", [
    ({"Bad": {"description": "x", "overrides": {"lambda_entropy": 99}}}, "lambda_entropy"),
    ({"Bad": {"description": "x", "overrides": {"lamda": 0.1}}}, "lamda"),
    ({"Bad": {"overrides": {}}}, "description"),
    ([], "object of presets"),
])
def test_bad_presets_are_refused(tmp_path, content, needle):
    with pytest.raises(ConfigError) as info:
        load_presets(write(tmp_path, "presets.json", content))
    assert needle in str(info.value) and "presets.json" in str(info.value)


def test_json_nan_never_reaches_a_config():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match="finite"):
            RunConfig().with_overrides({"val_fraction": bad})


def test_estimate_parameters_counts_the_conv_summary():
    from lfm.nn.model import build_model

    small = {"token_dim": 8, "channel_dim": 8, "expert_dim": 8, "adapt_dim": 4, "num_experts": 3}
    mean, conv = (RunConfig().with_overrides({**small, "gate_summary": kind}) for kind in ("mean", "conv"))
    counted = [sum(p.numel() for p in build_model(cfg, input_features=8).parameters()) for cfg in (mean, conv)]
    assert estimate_parameters(conv) - estimate_parameters(mean) == counted[1] - counted[0] == 2 * (8 * 8 * 3 + 8)


# --- RunSettings: a run's recorded settings, read without raising --------------------------------

def test_settings_of_a_valid_record_is_its_config():
    cfg = RunConfig().with_overrides({"lambda_entropy": 0.3, "seed": 4})
    settings = settings_of(cfg.to_dict())
    assert settings.config == cfg and settings.problem is None
    assert settings["lambda_entropy"] == 0.3 and settings["seed"] == 4 and settings["dataset"] == "regimes"
    assert dict(settings.values) == cfg.flat()


def test_settings_of_a_record_missing_settings_uses_defaults():
    settings = settings_of({"hyperparameters": {"num_experts": 8}})  # an older run: no training group
    assert settings.config is not None
    assert settings["num_experts"] == 8 and settings["balance_coef"] == 0.0 and settings["seed"] == 0


@pytest.mark.parametrize("record, readable, unusable", [
    ({"hyperparameters": {"num_experts": 100, "lambda_entropy": 0.5}}, {"lambda_entropy": 0.5}, "num_experts"),
    ({"hyperparameters": {"lambda_entropy": "high"}, "training": {"seed": 3}}, {"seed": 3}, "lambda_entropy"),
    ({"hyperparameters": [1, 2], "training": {"dataset": "random"}}, {"dataset": "random"}, "token_dim"),
    ({"hyperparameters": {"channel_dim": 32}}, {"channel_dim": 32, "token_dim": 64}, None),  # across settings
    ({"model": {}}, {"lambda_entropy": 0.01}, None),  # an unknown group
    ("not a dict", {}, "lambda_entropy"),
    (None, {}, "seed"),
])
def test_settings_of_a_damaged_record_never_raises(record, readable, unusable):
    settings = settings_of(record)
    assert settings.config is None and settings.problem
    for name, value in readable.items():
        assert settings[name] == value
    if unusable is not None:
        assert settings[unusable] is None  # present but invalid, or its group unreadable: no value
    assert set(settings.values) == {f.name for f in FIELDS}


def test_settings_lookup_of_a_name_that_is_no_setting_raises():
    with pytest.raises(ConfigError, match="did you mean 'lambda_entropy'"):
        settings_of(RunConfig().to_dict())["lamda_entropy"]
