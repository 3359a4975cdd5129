"""Tests for lfm/store/schema.py: run states and metric names live there, and nowhere else.

A state spelled out as a string in three files is a schema without a home: the grep test below fails
on any string literal that is exactly a run state's name outside schema.py (lfm/training, which reports
how a run ended, is converted separately and left out here)."""
import ast
from pathlib import Path

import pytest

from lfm.store.schema import (BITS_METRICS, ENDED_STATES, LIVE_STATES, LOSS_METRICS, METRIC_COLUMNS, METRICS,
                              Metric, RunState, load_column)

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("lfm", "ui", "pages")
EXEMPT = (ROOT / "lfm" / "store" / "schema.py", ROOT / "lfm" / "training")
STATE_NAMES = {state.value for state in RunState}


def checked_files() -> list[Path]:
    files = [p for folder in CHECKED for p in sorted((ROOT / folder).rglob("*.py"))]
    return [p for p in files if not any(p == e or e in p.parents for e in EXEMPT)]


def state_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string constant in the file that is exactly a run state's name.

    Whole constants only: a docstring or message that mentions a state in prose is not one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STATE_NAMES)


def test_no_run_state_is_spelled_out_outside_the_schema():
    files = checked_files()
    assert len(files) > 20 and ROOT / "ui" / "live.py" in files  # the walk found the tree
    found = [f"{path.relative_to(ROOT)}:{line} {text!r}" for path in files for line, text in state_literals(path)]
    assert not found, "use lfm.store.schema.RunState instead of:\n" + "\n".join(found)


def test_the_literal_finder_finds_literals(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""A docstring saying the run is "running" is prose."""\n'
                      'if state == "finished":\n    x = {"paused": 1}\n')
    assert state_literals(sample) == [(2, "finished"), (3, "paused")]


def test_states_compare_equal_to_the_strings_status_files_hold():
    assert RunState.RUNNING == "running" and "running" in LIVE_STATES and str(RunState.FAILED) == "failed"
    assert {"running": 1}[RunState.RUNNING] == 1  # hashes as its string
    assert RunState.parse("stopped") is RunState.STOPPED
    assert RunState.parse("exploded") is RunState.UNKNOWN and RunState.parse(None) is RunState.UNKNOWN
    assert not LIVE_STATES & ENDED_STATES and RunState.UNKNOWN not in LIVE_STATES | ENDED_STATES


def test_metric_names_are_the_metrics_file_columns():
    names = [value for key, value in vars(Metric).items() if key.isupper()]
    assert tuple(names) == METRIC_COLUMNS == tuple(METRICS)  # every constant, in file order
    assert all(isinstance(name, str) and type(name) is str for name in names)  # plain str: index anything
    assert set(LOSS_METRICS) | set(BITS_METRICS) <= set(METRIC_COLUMNS)
    for info in METRICS.values():
        assert info.label and info.description
    assert all("bits" in METRICS[name].label for name in BITS_METRICS)
    assert load_column(3) == "load_3"


@pytest.mark.parametrize("module", ["lfm.store.results", "ui.lab_charts"])
def test_metric_texts_come_from_the_schema(module):
    import importlib

    mod = importlib.import_module(module)
    if module == "lfm.store.results":
        for name in BITS_METRICS:
            assert mod.RESULT_COLUMNS[name] == METRICS[name].description
        assert mod.CURVE_COLUMNS == (*LOSS_METRICS, *BITS_METRICS)
    else:
        assert all(mod.METRIC_LABELS[name] == METRICS[name].label for name in mod.METRIC_LABELS)
