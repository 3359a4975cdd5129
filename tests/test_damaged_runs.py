"""A damaged run is shown as damaged, never hidden and never fatal (lfm/store/damage.py, ui/damaged.py).

One tiny run is trained once per module, in a lesson set (so the Sweep and Lessons pages show it too) and
with a checkpoint (so Explore lists it). Each test copies it, damages one of its files in one way, and
renders every page of the dashboard with AppTest: none may show an exception, and Runs must list the run
as "unreadable" naming the damaged file. The readers are also checked directly: each damage raises
RunDamaged naming the file, never a KeyError or TypeError.
"""
import json
import shutil

import pytest

from lfm.config import RunConfig
from lfm.lab.lessons import LESSONS
from lfm.store import RunReader
from lfm.store.damage import RunDamaged
from lfm.training.experiment import execute, prepare_run
from support import new_app
from tiny import TINY_SETTINGS
from ui.text import shown

GROUP = "lessons-damaged"  # a lesson set is a sweep group too: Sweep and Lessons both show it
PAGES = ("pages/train.py", "pages/runs.py", "pages/compare.py", "pages/sweep.py", "pages/explore.py",
         "pages/lessons.py")


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _edit_json(edit):
    """A damage that rewrites a JSON file's object: edit(record) changes it in place."""
    def damage(data: bytes) -> bytes:
        record = json.loads(data)
        edit(record)
        return _json(record)
    return damage


def _edit_lines(edit):
    """A damage of a line-based file: edit(lines) returns the new list of lines (without newlines)."""
    def damage(data: bytes) -> bytes:
        return b"\n".join(edit(data.rstrip(b"\n").split(b"\n"))) + b"\n"
    return damage


def _replace_cell(lines, line: int, column: str, value: bytes):
    header = lines[0].split(b",")
    cells = lines[line].split(b",")
    cells[header.index(column.encode())] = value
    return [*lines[:line], b",".join(cells), *lines[line + 1:]]


BINARY = bytes(range(256)) * 4
MISSING = None  # the file is removed

# file -> {way: bytes -> bytes, or MISSING}; every way leaves a run the readers must name as damaged
DAMAGES = {
    "config.json": {
        "missing": MISSING, "empty": lambda d: b"", "not JSON": lambda d: b"{not json",
        "binary": lambda d: BINARY, "a list": lambda d: _json([1, 2]),
        "hyperparameters a list": _edit_json(lambda r: r.update(hyperparameters=[1])),
        "name a number": _edit_json(lambda r: r.update(name=7)),
        "group a list": _edit_json(lambda r: r["meta"].update(group=["x"])),
        "huge line": lambda d: b"[" * 200_000,
    },
    "status.json": {
        "empty": lambda d: b"", "not JSON": lambda d: b"running", "a list": lambda d: _json(["finished"]),
        "bad heartbeat": _edit_json(lambda r: r.update(updated="yesterday")),
        "state a number": _edit_json(lambda r: r.update(state=3)),
        "pid text": _edit_json(lambda r: r.update(pid="1234")),
    },
    "info.json": {
        "not JSON": lambda d: b"\x00\x01", "a list": lambda d: _json([4]),
        "num_experts text": _edit_json(lambda r: r.update(num_experts="abc")),
        "num_experts disagrees": _edit_json(lambda r: r.update(num_experts=r["num_experts"] + 3)),
        "regime_names a number": _edit_json(lambda r: r.update(regime_names=5)),
    },
    "metrics.csv": {
        "binary": lambda d: BINARY,
        "extra field": _edit_lines(lambda ls: [*ls[:3], ls[3] + b",1.0", *ls[4:]]),
        "missing field": _edit_lines(lambda ls: [*ls[:-1], ls[-1].rsplit(b",", 1)[0]]),
        "text in step": _edit_lines(lambda ls: _replace_cell(ls, 2, "step", b"two")),
        "text in loss": _edit_lines(lambda ls: _replace_cell(ls, len(ls) - 1, "loss", b"lots")),
        "fractional step": _edit_lines(lambda ls: _replace_cell(ls, 1, "step", b"1.5")),
        "header without loss": _edit_lines(lambda ls: [ls[0].replace(b",loss,", b",lost,"), *ls[1:]]),
        "truncated line": _edit_lines(lambda ls: [*ls[:2], ls[2][:10], *ls[3:]]),
        "header only binary": lambda d: b"\xff\xfe\x00\n" + d.split(b"\n", 1)[1],
    },
    "gates.jsonl": {
        "a bare number": lambda d: d + b"7\n",
        "a list": lambda d: d + b"[1, 2]\n",
        "not JSON": lambda d: d + b"{\"step\": 9, \"probe_gates\": [[\n",
        "ragged matrix": lambda d: d + _json({"step": 99, "probe_gates": [[0.5, 0.5], [1.0]],
                                              "regime_matrix": None}) + b"\n",
        "text step": lambda d: d + _json({"step": "x", "probe_gates": None, "regime_matrix": None}) + b"\n",
        "huge line": lambda d: d + b"x" * 3_000_000 + b"\n",  # longer than the 1 MiB tail a live view reads
    },
    "events.jsonl": {
        "garbage": lambda d: b"\x00garbage\n",
        "a bare number": lambda d: b"3\n",
        "value text": lambda d: _json({"step": 1, "kind": "lambda_change", "value": "big"}) + b"\n",
        "no step": lambda d: _json({"kind": "lambda_change", "value": 0.1}) + b"\n",
    },
}
CASES = [(file, way) for file, ways in DAMAGES.items() for way in ways]
# files the store does not read to list a run, so only the page that opens them names the damage
UNLISTED = {
    "provenance.json": {"a list": lambda d: _json([1]), "not JSON": lambda d: b"{{", "git a number":
                        _edit_json(lambda r: r.update(git_revision=12))},
    "checkpoint.pt": {"binary": lambda d: BINARY, "half": lambda d: d[:len(d) // 2], "empty": lambda d: b""},
    "info.json": {"missing": MISSING},  # a run before its train start: not damaged, but the charts must cope
}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """The folder of one finished tiny run of a lesson set, with a checkpoint and a lambda-change event."""
    runs_dir = tmp_path_factory.mktemp("base") / "runs"
    config = RunConfig().with_overrides({**TINY_SETTINGS, "num_samples": 48})
    run = prepare_run(config, runs_dir, name=f"{GROUP} {LESSONS[0].key} seed 0", meta={"group": GROUP})
    assert execute(run).status == "finished"
    path = runs_dir / run.run_id
    with open(path / "events.jsonl", "a") as events:  # a lambda change, so events.jsonl exists to damage
        events.write(_json({"step": 1, "time": 0.0, "kind": "lambda_change", "value": 0.2}).decode() + "\n")
    return path


def damaged_copy(base_run, runs_dir, file: str, way: str, suffix: str = "") -> str:
    """Copy the base run into runs_dir (as its id + suffix) and damage one of its files; returns the run id."""
    target = runs_dir / (base_run.name + suffix)
    shutil.copytree(base_run, target)
    damage = {**DAMAGES.get(file, {}), **UNLISTED.get(file, {})}[way]
    if damage is MISSING:
        (target / file).unlink()
    else:
        (target / file).write_bytes(damage((target / file).read_bytes()))
    return target.name


@pytest.mark.parametrize("file, way", CASES, ids=[f"{f}-{w}" for f, w in CASES])
def test_a_damaged_run_is_listed_with_its_problem(base_run, tmp_path, file, way):
    runs_dir = tmp_path / "runs"
    run_id = damaged_copy(base_run, runs_dir, file, way)
    reader = RunReader(runs_dir)
    (summary,) = reader.list_runs()
    assert summary.run_id == run_id and summary.damage is not None, f"{file} {way}: not seen as damaged"
    assert summary.damage.file == file and summary.problem.startswith(f"{file}: "), summary.problem
    if file != "config.json":  # the rest of the run is still read: its name and settings
        assert summary.name and summary.settings["num_experts"] == 4
    readers = (lambda: reader.status(run_id), lambda: reader.config(run_id), lambda: reader.info(run_id),
               lambda: reader.read_metrics(run_id), lambda: reader.read_new(run_id, gates="last"),
               lambda: reader.read_gates(run_id), lambda: reader.read_events(run_id))
    for read in readers:  # each reader reads or names the damage; nothing else escapes
        try:
            read()
        except (RunDamaged, FileNotFoundError):
            pass


@pytest.mark.parametrize("file", [*DAMAGES, *(f for f in UNLISTED if f not in DAMAGES)])
def test_every_page_renders_runs_damaged_in_each_way(base_run, runs_dir, file):
    """One store holds a copy of the run for each way its `file` can be damaged; every page is rendered,
    and Runs and Train & watch open each of those runs in turn."""
    ways = [*DAMAGES.get(file, ()), *UNLISTED.get(file, ())]
    damaged = {damaged_copy(base_run, runs_dir, file, way, f"-{k}"): way for k, way in enumerate(ways)}
    at = new_app()
    at.run()
    for run_id, way in damaged.items():
        at.selectbox(key="watch").set_value(run_id).run()
        assert not at.exception, f"Train & watch, {file} {way}: {at.exception}"
    at.switch_page("pages/runs.py").run()
    assert not at.exception, f"Runs: {at.exception}"
    for run_id, way in damaged.items():
        at.selectbox(key="runs_page_run").set_value(run_id).run()
        assert not at.exception, f"Runs, {file} {way}: {at.exception}"
        if way in DAMAGES.get(file, ()):
            problem = at.dataframe[0].value.set_index("run").loc[run_id, "problem"]
            assert problem.startswith(f"unreadable: {file}: "), f"{way}: {problem!r}"
            warnings = [shown(w.value) for w in at.warning]  # as read: plain()'s escapes resolved
            assert any(run_id in w and f"unreadable: {file}: " in w for w in warnings), warnings
            exports = {b.proto.label: b.proto for b in at.get("download_button")}  # read when pressed: none offered
            assert exports["Metrics (CSV)"].disabled and exports["TensorBoard (zip)"].disabled, way
    for page in ("pages/compare.py", "pages/sweep.py", "pages/explore.py", "pages/lessons.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page}, {file}: {at.exception}"
        if page == "pages/explore.py" and file == "checkpoint.pt":  # load each damaged checkpoint
            for run_id, way in damaged.items():
                at.selectbox(key="explore_run").set_value(run_id).run()
                assert not at.exception, f"Explore, {file} {way}: {at.exception}"
                assert at.error, f"Explore, {file} {way}: loaded without a word"


def test_metrics_csv_is_checked_again_as_it_grows(base_run, tmp_path):
    """list_runs checks a metrics.csv whole once, then only its new lines: a bad line appended later (or a
    file replaced by a damaged one) is still found, and named by its line number."""
    runs_dir = tmp_path / "runs"
    run_id = damaged_copy(base_run, runs_dir, "events.jsonl", "garbage")  # any copy; events fixed below
    folder = runs_dir / run_id
    (folder / "events.jsonl").unlink()
    reader = RunReader(runs_dir)
    assert reader.list_runs()[0].problem is None
    metrics = folder / "metrics.csv"
    lines = metrics.read_bytes().split(b"\n")[:-1]
    with open(metrics, "ab") as f:  # a good row, then a row with a field too many
        f.write(lines[-1] + b"\n" + lines[-1] + b",0.5\n")
    assert reader.list_runs()[0].problem == (f"metrics.csv: line {len(lines) + 2} has {lines[0].count(b',') + 2} "
                                             f"fields, the header {lines[0].count(b',') + 1}")
    metrics.unlink()  # a new file (a new inode) under the same name, damaged in its third line
    metrics.write_bytes(b"\n".join(_replace_cell(lines, 2, "loss", b"lots")) + b"\n")
    assert reader.list_runs()[0].problem == "metrics.csv: line 3: loss is 'lots', not a number"


def test_read_new_names_the_line_of_a_later_damage(base_run, tmp_path):
    runs_dir = tmp_path / "runs"
    run_id = damaged_copy(base_run, runs_dir, "events.jsonl", "garbage")
    reader = RunReader(runs_dir)
    rows, _ = reader.read_new(run_id)
    metrics = runs_dir / run_id / "metrics.csv"
    with open(metrics, "ab") as f:
        f.write(b"not,a,row\n")
    with pytest.raises(RunDamaged, match=f"metrics.csv: line {len(rows) + 2} has 3 fields"):
        reader.read_new(run_id)
    with pytest.raises(RunDamaged, match=f"line {len(rows) + 2} has 3 fields"):  # nothing taken as read
        reader.read_new(run_id)


def test_the_cli_lists_a_damaged_run_and_refuses_to_export_it(base_run, tmp_path, capsys):
    from lfm.cli import main

    runs_dir = tmp_path / "runs"
    run_id = damaged_copy(base_run, runs_dir, "metrics.csv", "extra field")
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out, err = capsys.readouterr()
    assert run_id in out and f"{run_id} is unreadable: metrics.csv: line 4 has" in err
    assert main(["export", run_id, "--runs-dir", str(runs_dir), "--files", str(tmp_path / "out")]) == 2
    assert "unreadable: metrics.csv: line 4" in capsys.readouterr().err


def test_every_run_picker_marks_the_damaged_run_and_only_it(base_run, runs_dir):
    """Train & watch's "Watching", Runs' "Show run", Explore's "Run" and Compare's run multiselect all list
    a damaged run marked as unreadable before its label, and a healthy one unmarked."""
    healthy = base_run.name + "-ok"
    shutil.copytree(base_run, runs_dir / healthy)
    broken = damaged_copy(base_run, runs_dir, "metrics.csv", "extra field", "-bad")
    at = new_app()
    at.run()
    pickers = {"pages/train.py": lambda: at.selectbox(key="watch"),
               "pages/runs.py": lambda: at.selectbox(key="runs_page_run"),
               "pages/explore.py": lambda: at.selectbox(key="explore_run"),
               "pages/compare.py": lambda: at.multiselect(key="compare_runs")}
    for page, picker in pickers.items():
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {at.exception}"
        runs = [o for o in picker().options if GROUP in o]  # Train & watch offers "Follow the newest run" too
        marked = [o for o in runs if o.startswith("⚠ unreadable · ")]
        assert len(runs) == 2 and len(marked) == 1, f"{page}: {runs}"  # the healthy run is not marked
        assert marked[0].startswith(f"⚠ unreadable · {GROUP} "), f"{page}: {marked}"  # then its usual label
        if page != "pages/compare.py":  # Compare's short labels leave the run id out
            assert broken in marked[0] and healthy in next(o for o in runs if o not in marked), f"{page}: {runs}"
