"""Settings of LFM Entropy Lab: one list of fields, two JSON files, and their validation.

FIELDS lists every user-settable setting once (name, file, type, default, allowed values, help text),
in the spirit of tensorflow/playground's PROPS: the same list drives the JSON files (lfm/assets/ and every
run folder), validation, the CLI's `--set key=value`, the dashboard form and the URL query parameters.

hyperparameters.json holds the model's settings and training.json the data's and optimiser's. The seed's
keys are kept exactly; newer keys are optional (missing -> default), so the seed's files load unchanged.

Typing rules, the same for JSON values, typed overrides and parsed strings:
- an integer setting takes an integer; a float with a whole value (64.0) is read as 64, because some
  tools write every number as a float; 64.5, true/false and strings are refused;
- a number setting takes a finite int or float (NaN and infinity refused); true/false is refused;
- a text setting takes a string; an optional one also null, and "" counts as null.

One grammar for numbers everywhere: a number typed as text (--set, a URL, the form) is read with JSON's
number grammar (ASCII digits; no "1_0", no Arabic-Indic digits, no ".5"), so it is accepted exactly
when a JSON file would accept it. Reading is bounded (read_json's limits on size, nesting, keys and
number length are checked before or while parsing, in linear time): a hostile file gets a one-line
ConfigError naming it, never a hang, a RecursionError or Python's own message.

Every check raises ConfigError naming the setting, the value and what is allowed. All checks, including
those across settings (equal widths, parameter budget), run when a config object is built: a RunConfig
that exists is valid, and nothing has been allocated for one that is not. A ConfigError keeps its
parts apart (.source, .field, .message), so a caller can drop or replace the source without editing text.

settings_of reads back what a run recorded, typed and without raising, for views of the run store that
must show old or damaged runs too. The `dataset` setting's choices come from lfm.datasets.DATASETS.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, NamedTuple

from lfm.datasets import DATASET_NAMES, DATASETS

ASSETS_DIR = Path(__file__).resolve().parent / "assets"  # inside the package, so an installed lfm finds it
GROUPS = ("hyperparameters", "training")  # one file per group: <group>.json
PARAMETER_BUDGET = 50_000_000  # refuse models estimated above this many parameters
# The adaptive layers generate a whole weight matrix per sample, kept for the backward pass:
# refuse batches that would generate more numbers than this (about 1 GiB in float32).
GENERATED_WEIGHTS_BUDGET = 256_000_000
# Limits of read_json. A settings file is ~300 bytes with 12 keys nested 1 deep, presets.json ~2 kB:
# these leave room for any real file and refuse in linear time what would make the parser hang or crash.
MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 20
MAX_JSON_KEYS = 1_000       # keys of one object
MAX_NUMBER_CHARS = 100      # a number's spelling; every allowed value needs under 25
# JSON's number grammar (RFC 8259 section 6), ASCII digits only: how numbers are written in every source
NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class ConfigError(ValueError):
    """An invalid setting, in parts a caller can use without editing the text:

    source   where the value came from: a file ("training.json", a path), a form input or None;
    field    the setting (or input) at fault, None when no single one is;
    message  what is wrong and what is allowed, without the source.

    str(error) is "source: message" (just the message without a source), the one line the CLI prints.
    A caller that shows a value typed into a form, not read from a file, shows .message.
    """

    def __init__(self, message: str, field: str | None = None, source: str | None = None):
        super().__init__(f"{source}: {message}" if source else message)
        self.message = message
        self.field = field
        self.source = source

    def __reduce__(self):  # pickled whole (e.g. by a process pool), not rebuilt from str(error)
        return type(self), (self.message, self.field, self.source)

    def with_source(self, source: str | None) -> ConfigError:
        """The same problem, said to come from source (e.g. a file that held the setting)."""
        return ConfigError(self.message, self.field, source)


@dataclass(frozen=True)
class Field:
    """One user-settable setting; min and max are inclusive, except min when min_exclusive."""
    name: str
    group: str                     # "hyperparameters" | "training": the file it lives in
    type: type                     # int | float | str
    default: Any
    help: str                      # for students: shown in the form, the CLI help and the docs
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False    # learning_rate must be > 0, not >= 0
    choices: tuple[str, ...] | None = None
    optional: bool = False         # None (JSON null) is allowed
    allowed: str = ""              # short description of the allowed values; derived when left empty

    def __post_init__(self):
        if not self.allowed:
            object.__setattr__(self, "allowed", _describe(self))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _describe(f: Field) -> str:
    if f.choices:
        return "one of " + ", ".join(repr(c) for c in f.choices)
    kind = "integers" if f.type is int else "numbers"
    if f.min_exclusive:
        return f"{kind} above {_num(f.min)} up to {_num(f.max)}"
    return f"{kind} {_num(f.min)} to {_num(f.max)}"


_H, _T = GROUPS
FIELDS: tuple[Field, ...] = (
    Field("token_dim", _H, int, 64, "Width of every token's feature vector: the model's working width. "
          "Inputs with fewer features are projected up to it.", 1, 1024),
    Field("channel_dim", _H, int, 64, "Width of the channel-mixing layer. It mixes the feature axis in "
          "place, so it must equal token_dim.", 1, 1024, allowed="integers 1 to 1024, equal to token_dim"),
    Field("expert_dim", _H, int, 64, "Width of each expert. Experts transform the feature axis in place, "
          "so it must equal token_dim.", 1, 1024, allowed="integers 1 to 1024, equal to token_dim"),
    Field("adapt_dim", _H, int, 32, "Size of the summary vector computed from each input sequence. It "
          "drives the gate and generates each layer's per-sample weight adjustment.", 1, 512),
    Field("num_experts", _H, int, 4, "How many experts the gate chooses among. Every entropy on the "
          "charts is at most log2(num_experts) bits.", 1, 64),
    Field("lambda_entropy", _H, float, 0.01, "Weight of the routing entropy added to the loss: above 0 "
          "makes each sample's gate more decisive, below 0 spreads it over more experts, 0 turns it off.",
          -10, 10),
    Field("lambda_schedule", _H, str, "constant", "How lambda_entropy is applied over training; each step "
          "uses lambda_entropy x a factor. constant: factor 1 throughout (the seed's behaviour). warmup: "
          "the factor rises linearly from 0 to 1 over the first lambda_warmup of training, then stays 1, "
          "so the experts can differ before the gate is pushed to decide. cosine: the same warm-up, then "
          "a cosine decay to 0 by the end. λ while training changes the base lambda_entropy; the "
          "schedule keeps scaling it.", choices=("constant", "warmup", "cosine")),
    Field("lambda_warmup", _H, float, 0.25, "Share of training (0 to 1) over which the warmup and "
          "cosine schedules ramp lambda up from 0; 0.25 is the first quarter of the steps. Ignored by the "
          "constant schedule.", 0, 1),
    Field("balance_coef", _H, float, 0.0, "Weight of the load-balance term, which rewards using all "
          "experts evenly overall: the cure for collapse onto one expert when lambda_entropy > 0.", 0, 10),
    Field("gate_summary", _H, str, "mean", "What the gate and the adaptive layers see of each window. "
          "mean: the window's mean (the seed's design), blind to a waveform's shape. conv: a learned "
          "summary of the window's first half (standardised, two causal convolutions, averaged); the "
          "loss and validation then count only the positions whose targets lie beyond that half, so "
          "the summary cannot pass them their answers.", choices=("mean", "conv")),
    Field("batch_size", _T, int, 16, "Sequences per optimiser step.", 1, 4096),
    Field("sequence_length", _T, int, 10, "Time steps per input window: the token axis that token "
          "mixing mixes.", 2, 512),
    Field("num_samples", _T, int, 1000, "How many windows to make (training + validation). The "
          "synthetic datasets make exactly this many; real ones are limited by their length.", 8, 1_000_000),
    Field("num_epochs", _T, int, 10, "Passes over the training windows.", 1, 10_000),
    Field("learning_rate", _T, float, 0.001, "Step size of the Adam optimiser.", 0, 1, min_exclusive=True),
    Field("dataset", _T, str, "regimes", "Where the sequences come from. "
          + " ".join(f"{d.name}: {d.summary}." for d in DATASETS.values()), choices=DATASET_NAMES),
    Field("regime_levels", _T, str, "distinct", "Levels of the regimes data set (ignored by the others). "
          "distinct: each regime at its own level, so the window mean reveals the regime. shared: every "
          "regime at one level, so only the waveform's shape tells them apart.",
          choices=("distinct", "shared")),
    Field("csv_path", _T, str, None, "Path of a CSV file of numeric columns; only with dataset 'csv'.",
          optional=True, allowed="a file path when dataset is 'csv', otherwise null"),
    Field("device", _T, str, "auto", "Where to train; auto picks cuda, then mps, then cpu.",
          choices=("auto", "cpu", "cuda", "mps")),
    Field("seed", _T, int, 0, "Random seed for data, initialisation and shuffling: the same seed and "
          "settings give the same run.", 0, 2**31 - 1),
    Field("log_every", _T, int, 10, "Record metrics every this many optimiser steps; the charts "
          "update at this pace.", 1, 100_000),
    Field("val_fraction", _T, float, 0.2, "Share of the windows held out for validation.", 0.05, 0.5),
)
_BY_NAME = {f.name: f for f in FIELDS}


def field_by_name(name: str) -> Field:
    """The Field called `name`; ConfigError listing the known names (and a near miss) otherwise."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    close = difflib.get_close_matches(str(name), _BY_NAME, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown setting {name!r}{hint}: known settings are {', '.join(_BY_NAME)}", name)


def fields_in(group: str) -> tuple[Field, ...]:
    """The fields of one file, in file order."""
    return tuple(f for f in FIELDS if f.group == group)


_JSON_TYPES = {bool: "true/false", str: "text", list: "a list", dict: "an object", type(None): "null"}


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.10g}"  # 99, not 99.0: a number typed into the form reads as typed
    try:
        return json.dumps(value)  # JSON spelling: null, true, "text", NaN
    except (TypeError, ValueError):
        return repr(value)


def check_value(name: str, value: Any, source: str | None = None) -> Any:
    """Check one setting's value and return it typed (64.0 -> 64 for an integer setting).

    source prefixes the message (a file path); by default the setting's file name."""
    f = field_by_name(name)
    source = source or f"{f.group}.json"

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{f.name} = {_show(value)} {problem}: allowed {f.allowed}", f.name, source)

    if value is None or (f.optional and isinstance(value, str) and not value.strip()):
        if f.optional:
            return None
        raise fail("has no value")
    wanted = (str,) if f.type is str else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise fail(f"has the wrong type ({_JSON_TYPES.get(type(value), type(value).__name__)})")
    if f.type is str:
        if f.choices and value not in f.choices:
            raise fail("is not one of the choices")
        return value
    if not math.isfinite(value):
        raise fail("is not a finite number")
    if f.type is int and not float(value).is_integer():
        raise fail("is not a whole number")
    value = f.type(value)
    above_min = value > f.min if f.min_exclusive else value >= f.min
    if not (above_min and value <= f.max):
        raise fail("is out of range")
    return value


def parse_number(text: str) -> int | float:
    """A number spelled as in JSON ("64", "-0.5", "1e-3"): int without fraction or exponent, else float.

    ValueError for anything else, including what Python alone would read ("1_0", "٣", " +1", "inf")."""
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text):,} characters is longer than the {MAX_NUMBER_CHARS} allowed")
    if not NUMBER_RE.fullmatch(text):
        raise ValueError("is not a number as JSON writes one (e.g. 64, -0.5, 1e-3)")
    return int(text) if text.lstrip("-").isdigit() else float(text)


def parse_value(name: str, text: str) -> Any:
    """Convert a string (CLI --set, URL query, form text) to the setting's type, then check it.

    Numbers: JSON's spelling (parse_number: "64", "1e-3", "64.0" for an integer); optional text:
    "", "none" and "null" mean null."""
    f = field_by_name(name)
    if not isinstance(text, str):
        raise ConfigError(f"{f.name}: parse_value expects a string, got {_show(text)}", f.name)
    s = text.strip()
    if f.type is str:
        value = None if f.optional and s.lower() in ("", "none", "null") else s
    else:
        try:
            value = parse_number(s)
        except ValueError as e:
            shown = _show(text if len(text) <= 40 else text[:40] + "...")
            raise ConfigError(f"{f.name} = {shown} {e}: allowed {f.allowed}", f.name, f"{f.group}.json") from None
    return check_value(name, value)


def format_value(name: str, value: Any) -> str:
    """The inverse of parse_value, for URL query parameters and the CLI: null -> ""."""
    field_by_name(name)
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _default(name: str) -> Any:
    return _BY_NAME[name].default


class _Settings:
    """What ModelConfig and TrainingConfig share: typed checks on creation, to_dict/from_dict."""
    group: ClassVar[str]

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for f in fields_in(self.group):
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))
        self._check_combinations(f"{self.group}.json")

    def _check_combinations(self, source: str) -> None:
        """Checks across this file's settings; ConfigError with source as its source."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields_in(self.group)}

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None):
        """Build from one file's JSON object; missing keys take their defaults."""
        source = source or f"{cls.group}.json"
        if not isinstance(data, Mapping):
            kind = _JSON_TYPES.get(type(data), type(data).__name__)
            raise ConfigError(f"the top level must be a JSON object of settings "
                              f"{{\"name\": value, ...}}, got {kind}", source=source)
        known = [f.name for f in fields_in(cls.group)]
        for key in data:
            if key not in known:
                home = f" (it belongs in {_BY_NAME[key].group}.json)" if key in _BY_NAME else ""
                raise ConfigError(f"unknown key {key!r}{home}: known keys are {', '.join(known)}",
                                  key, source)
        values = {key: check_value(key, value, source) for key, value in data.items()}
        try:
            return cls(**values)
        except ConfigError as e:  # a check across settings: name the file it came from
            raise e.with_source(source) from None


@dataclass(frozen=True)
class ModelConfig(_Settings):
    """The model's settings: hyperparameters.json."""
    group: ClassVar[str] = "hyperparameters"
    token_dim: int = _default("token_dim")            # feature width of every token (D)
    channel_dim: int = _default("channel_dim")        # channel-mixing width; must equal token_dim
    expert_dim: int = _default("expert_dim")          # width of each expert; must equal token_dim
    adapt_dim: int = _default("adapt_dim")            # size of the per-sequence summary (A)
    num_experts: int = _default("num_experts")        # experts the gate chooses among (E)
    lambda_entropy: float = _default("lambda_entropy")  # weight of routing entropy in the loss
    lambda_schedule: str = _default("lambda_schedule")  # constant | warmup | cosine: lambda's factor over training
    lambda_warmup: float = _default("lambda_warmup")    # share of training over which lambda ramps up from 0
    balance_coef: float = _default("balance_coef")    # weight of the load-balance term (not in the seed)
    gate_summary: str = _default("gate_summary")      # mean | conv: what the gate and adaptive layers see

    def _check_combinations(self, source: str) -> None:
        # The layers mix the feature axis in place (B, S, D) -> (B, S, D): every width is token_dim.
        for name in ("channel_dim", "expert_dim"):
            if getattr(self, name) != self.token_dim:
                raise ConfigError(f"{name} = {getattr(self, name)} must equal token_dim = "
                                  f"{self.token_dim}, because the layers mix the feature axis in "
                                  f"place: allowed {_BY_NAME[name].allowed}", name, source)


@dataclass(frozen=True)
class TrainingConfig(_Settings):
    """The data's and optimiser's settings: training.json."""
    group: ClassVar[str] = "training"
    batch_size: int = _default("batch_size")          # sequences per optimiser step
    sequence_length: int = _default("sequence_length")  # time steps per window (S)
    num_samples: int = _default("num_samples")        # windows made, training + validation
    num_epochs: int = _default("num_epochs")          # passes over the training windows
    learning_rate: float = _default("learning_rate")  # Adam step size
    dataset: str = _default("dataset")                # a name in lfm.datasets.DATASETS
    regime_levels: str = _default("regime_levels")    # distinct | shared: the regimes' levels
    csv_path: str | None = _default("csv_path")       # the CSV file, iff the data set reads one ("csv")
    device: str = _default("device")                  # auto | cpu | cuda | mps
    seed: int = _default("seed")                      # seeds data, initialisation and shuffling
    log_every: int = _default("log_every")            # optimiser steps between metric records
    val_fraction: float = _default("val_fraction")    # share of windows held out for validation

    @property
    def num_train_windows(self) -> int:
        """Training windows of a synthetic dataset (a hair of slack against float rounding)."""
        return math.floor(self.num_samples * (1 - self.val_fraction) + 1e-9)

    def _check_combinations(self, source: str) -> None:
        allowed = _BY_NAME["csv_path"].allowed
        data = DATASETS[self.dataset]  # a valid choice: checked per setting before this
        if data.needs_file and self.csv_path is None:
            raise ConfigError(f"csv_path = null but dataset = {_show(self.dataset)}: allowed {allowed}",
                              "csv_path", source)
        if not data.needs_file and self.csv_path is not None:
            raise ConfigError(f"csv_path = {_show(self.csv_path)} but dataset = "
                              f"{_show(self.dataset)}: allowed {allowed}", "csv_path", source)
        windows = self.num_train_windows
        if data.synthetic and self.batch_size > windows:
            raise ConfigError(f"batch_size = {self.batch_size} is more than the {windows} "
                              f"training windows (num_samples = {self.num_samples}, val_fraction = "
                              f"{self.val_fraction:g}): allowed integers 1 to {windows} here, or raise "
                              f"num_samples", "batch_size", source)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved in every run folder and checkpoint. Immutable: use with_overrides."""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Re-run every check, per setting and across settings; raise ConfigError on the first failure."""
        if not isinstance(self.model, ModelConfig) or not isinstance(self.training, TrainingConfig):
            raise ConfigError("RunConfig needs a ModelConfig and a TrainingConfig")
        self.model.validate()
        self.training.validate()
        m = self.model
        params = estimate_parameters(self)
        if params > PARAMETER_BUDGET:
            raise ConfigError(
                f"the model would have about {params:,} parameters, above the "
                f"budget of {PARAMETER_BUDGET:,}. Each adaptive layer has about (adapt_dim + 2) x "
                f"token_dim^2 of them: lower token_dim = {m.token_dim}, adapt_dim = {m.adapt_dim} or "
                f"num_experts = {m.num_experts}", source="hyperparameters.json")
        generated = estimate_generated_weights(self)
        if generated > GENERATED_WEIGHTS_BUDGET:
            raise ConfigError(
                f"batch_size = {self.training.batch_size} would make the adaptive layers "
                f"generate about {generated:,} weights per batch (batch_size x (sequence_length^2 + "
                f"(1 + num_experts) x token_dim^2)), above the budget of {GENERATED_WEIGHTS_BUDGET:,}: "
                f"lower batch_size, token_dim or num_experts", "batch_size", "training.json")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {"hyperparameters": self.model.to_dict(), "training": self.training.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """Inverse of to_dict (e.g. a checkpoint's "config"); a missing group takes its defaults."""
        if not isinstance(data, Mapping) or set(data) - set(GROUPS):
            raise ConfigError(f"a run config must be an object with the keys {', '.join(GROUPS)}, "
                              f"got {_show(data)[:200]}")
        return cls(ModelConfig.from_dict(data.get("hyperparameters", {})),
                   TrainingConfig.from_dict(data.get("training", {})))

    def flat(self) -> dict[str, Any]:
        """Every setting by bare name, in FIELDS order (for forms and URLs)."""
        return {**self.model.to_dict(), **self.training.to_dict()}

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A new, validated RunConfig; keys are bare setting names, values typed or strings to parse."""
        values = {group: {} for group in GROUPS}
        for name, value in overrides.items():
            f = field_by_name(name)
            values[f.group][name] = parse_value(name, value) if isinstance(value, str) else value
        return RunConfig(dataclasses.replace(self.model, **values["hyperparameters"]),
                         dataclasses.replace(self.training, **values["training"]))


@dataclass(frozen=True)
class RunSettings:
    """The settings a run recorded (its config.json, a checkpoint's "config"), read for display.

    Reading never raises. Every run this version writes holds a valid RunConfig, and `config` is it.
    A record written by an older version, edited by hand or damaged may not validate: then `config`
    is None, `problem` says why, and each setting still reads as recorded where it passes its own
    check, None where it does not. A missing setting (or group) takes its default, as in
    RunConfig.from_dict. Look settings up by name: settings["lambda_entropy"]; a name that is not a
    setting raises ConfigError, so a typo cannot read as a missing value.
    """
    config: RunConfig | None     # the validated config; None when the record does not validate
    values: Mapping[str, Any]    # every setting of FIELDS by name -> typed value, or None if unusable
    problem: str | None = None   # why config is None (the ConfigError's text)

    def __getitem__(self, name: str) -> Any:
        return self.values[field_by_name(name).name]


def settings_of(record: Any) -> RunSettings:
    """RunSettings of a recorded config dict {"hyperparameters": {...}, "training": {...}}."""
    try:
        config = RunConfig.from_dict(record)
        return RunSettings(config, config.flat())
    except ConfigError as e:
        problem = str(e)
    values = {}
    for f in FIELDS:
        group = record.get(f.group, {}) if isinstance(record, Mapping) else None  # None: unreadable
        if not isinstance(group, Mapping):
            values[f.name] = None
        elif f.name not in group:
            values[f.name] = f.default
        else:
            try:
                values[f.name] = check_value(f.name, group[f.name])
            except ConfigError:
                values[f.name] = None
    return RunSettings(None, values, problem)


def _settings(cfg: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(cfg, RunConfig):
        return cfg.flat()
    return {**{f.name: f.default for f in FIELDS}, **cfg}


def _adaptive_linear_parameters(n_in: int, n_out: int, adapt: int) -> int:
    # weight (out, in) + bias (out) + adapt = Linear(adapt, out*in) with its bias
    return n_out * n_in + n_out + adapt * n_out * n_in + n_out * n_in


def estimate_parameters(cfg: RunConfig | Mapping[str, Any]) -> int:
    """Parameters of the model the config describes, leaving out any input projection.

    cfg may be a RunConfig or a mapping of setting names (missing -> defaults), so a form can show the
    estimate for settings that do not validate."""
    v = _settings(cfg)
    S, D, A, E = v["sequence_length"], v["token_dim"], v["adapt_dim"], v["num_experts"]
    return (_adaptive_linear_parameters(S, S, A)                                    # token mixing
            + _adaptive_linear_parameters(v["channel_dim"], v["channel_dim"], A)    # channel mixing
            + E * _adaptive_linear_parameters(v["expert_dim"], v["expert_dim"], A)  # experts
            + A * E + E                                                             # gating Linear(A, E)
            + D * A + A                                                             # featurizer Linear(D, A)
            + D * D + D                                                             # output Linear(D, D)
            + (2 * (D * D * 3 + D) if v["gate_summary"] == "conv" else 0))         # conv summary: 2 Conv1d(D, D, 3)


def estimate_generated_weights(cfg: RunConfig | Mapping[str, Any]) -> int:
    """Numbers the adaptive layers generate per batch: a weight matrix per sample and layer."""
    v = _settings(cfg)
    per_sample = (v["sequence_length"] ** 2 + v["channel_dim"] ** 2
                  + v["num_experts"] * v["expert_dim"] ** 2)
    return v["batch_size"] * per_sample


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; ConfigError with the path (and line and column when malformed).

    Bounded work on any file: at most MAX_JSON_BYTES, nested at most MAX_JSON_DEPTH deep, at most
    MAX_JSON_KEYS keys per object, numbers at most MAX_NUMBER_CHARS long; each checked in linear time."""
    path = Path(path)

    def no_duplicates(pairs):
        if len(pairs) > MAX_JSON_KEYS:
            raise ConfigError(f"an object with {len(pairs):,} keys, above the limit of {MAX_JSON_KEYS:,}",
                              source=str(path))
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ConfigError(f"key {key!r} appears twice", key, str(path))
            seen.add(key)
        return dict(pairs)

    def number(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise ConfigError(f"a number of {len(text):,} characters ({text[:20]}...) is longer than "
                              f"the {MAX_NUMBER_CHARS} allowed", source=str(path))
        return float(text) if any(c in text for c in ".eE") else int(text)

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)  # never more: a huge file is refused without reading it all
        if len(data) > MAX_JSON_BYTES:
            raise ConfigError(f"the file is larger than the limit of {MAX_JSON_BYTES:,} bytes "
                              "(a settings file is well under 1 kB)", source=str(path))
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read it as UTF-8 text: {e}", source=str(path)) from None
    if json_depth(text, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ConfigError(f"nested more than {MAX_JSON_DEPTH} levels deep, above the limit", source=str(path))
    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_int=number, parse_float=number)
    except json.JSONDecodeError as e:
        raise ConfigError(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                          source=str(path)) from None


_JSON_TOKENS_RE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)  # an escape pair, a quote or a bracket


def json_depth(text: str, stop_above: int | None = None) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a bare value), in linear time; with
    stop_above, the first depth above it as soon as it is reached (the rest is not read).

    One pass over the quotes, brackets and escape pairs: brackets inside strings do not count. (A regular
    expression for whole strings would backtrack quadratically on '"\\"\\"\\"...'.) On malformed text the
    figure is approximate, which is enough to refuse before json.loads would recurse once per level."""
    depth = deepest = 0
    in_string = False
    for token in _JSON_TOKENS_RE.findall(text):
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) == 2:
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_above is not None and deepest > stop_above:
                break
        else:
            depth -= 1
    return deepest


def load_run_config(hyperparameters_path: str | os.PathLike | None = None,
                    training_path: str | os.PathLike | None = None) -> RunConfig:
    """Read the two files; a path left out means that file's defaults."""
    model = (ModelConfig() if hyperparameters_path is None
             else ModelConfig.from_dict(read_json(hyperparameters_path), str(hyperparameters_path)))
    training = (TrainingConfig() if training_path is None
                else TrainingConfig.from_dict(read_json(training_path), str(training_path)))
    return RunConfig(model, training)


def save_run_config(cfg: RunConfig, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write hyperparameters.json and training.json in the seed's format (indent 4, FIELDS order)."""
    cfg.validate()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for group, values in cfg.to_dict().items():
        path = folder / f"{group}.json"
        tmp = path.with_name(path.name + ".tmp")  # write then rename: a reader never sees half a file
        tmp.write_text(json.dumps(values, indent=4) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return tuple(paths)


class Preset(NamedTuple):
    description: str               # for students: what to try and what to watch
    overrides: dict[str, Any]      # bare setting names -> typed values, for RunConfig.with_overrides


def load_presets(path: str | os.PathLike | None = None) -> dict[str, Preset]:
    """Classroom presets by name, in file order; each is checked against the default config."""
    path = Path(path) if path is not None else ASSETS_DIR / "presets.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError("the top level must be an object of presets by name", source=str(path))
    presets = {}
    for name, entry in data.items():
        if (not isinstance(entry, dict) or set(entry) != {"description", "overrides"}
                or not isinstance(entry["description"], str) or not isinstance(entry["overrides"], dict)):
            raise ConfigError(f"preset {name!r} must be "
                              f"{{\"description\": text, \"overrides\": {{setting: value, ...}}}}",
                              source=str(path))
        try:
            RunConfig().with_overrides(entry["overrides"])
        except ConfigError as e:
            raise ConfigError(f"preset {name!r}: {e}", e.field, str(path)) from None
        presets[name] = Preset(entry["description"], dict(entry["overrides"]))
    return presets
