"""AppTest of the Lessons page: tiny settings, "Run the lessons", every card to its verdict; a past set reopens."""

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lfm.config import load_presets
from lfm.lab.lessons import available_lessons
from lfm.store import RunReader
from tiny import TINY_SETTINGS

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PAGE = "pages/lessons.py"


def lessons_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    for key, value in TINY_SETTINGS.items():
        at.number_input(key=key).set_value(value)
    at.run()
    return at


def wait_until_finished(runs_dir: Path, count: int, timeout: float = 240) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = RunReader(runs_dir).list_runs() if runs_dir.exists() else []
        if len(runs) == count and all(r.state not in ("running", "unknown") for r in runs):
            return runs
        time.sleep(0.3)
    raise AssertionError(f"the {count} lesson runs did not finish within {timeout} s")


def test_the_lessons_run_to_their_verdicts_and_a_past_set_reopens(runs_dir):
    at = lessons_page()
    assert not at.exception
    assert any("No lesson sets yet" in i.value for i in at.info)
    ready, missing = available_lessons(load_presets())
    for lesson in missing:  # a lesson whose preset is not in presets.json yet is named, not hidden
        assert any(lesson.name in i.value and "not in assets/presets.json" in i.value for i in at.info)

    next(b for b in at.button if b.label == "Run the lessons").click().run()
    assert not at.exception
    runs = wait_until_finished(runs_dir, len(ready))
    assert {r.meta["group"] for r in runs} == {runs[0].meta["group"]}
    assert runs[0].meta["group"].startswith("lessons-")
    assert all(r.config["hyperparameters"]["token_dim"] == 8 for r in runs)

    at.run()
    assert not at.exception
    verdicts = [m.value for m in [*at.success, *at.warning]]
    assert len(verdicts) == len(ready), verdicts  # one verdict per lesson, each shown or not shown
    assert all(v.startswith(("Shown:", "Not shown:")) for v in verdicts)
    rules = [m.value for m in at.markdown if m.value.startswith("**Rule:**")]
    assert {r.removeprefix("**Rule:** ") for r in rules} == {lesson.rule.text() for lesson in ready}
    assert any(f"All {len(ready)} lessons judged" in m.value for m in at.markdown)
    assert len(at.get("vega_lite_chart")) == 2 * len(ready)  # a matrix and the curves per card

    # a fresh session (a later class) finds the set in the store and shows the same verdicts
    later = lessons_page()
    assert not later.exception
    assert [m.value for m in [*later.success, *later.warning]] == verdicts


def test_a_lesson_with_two_seeds_shows_its_spread(runs_dir):
    """The seeds option: "Seeds per lesson" plans one run per lesson and seed, and a card over two seeds
    draws their mean in a band, counts both runs and judges each seed."""
    import json

    from lfm.lab.lessons import plan_lessons
    from lfm.training.experiment import execute, prepare_run
    from tiny import TINY_CONFIG

    at = lessons_page()
    ready, _ = available_lessons(load_presets())
    at.number_input(key="lessons_seeds").set_value(2).run()
    assert any(c.value.startswith(f"{2 * len(ready)} runs:") for c in at.caption)
    # a set of two lessons x two seeds, trained as "Run the lessons" would (names and group as it writes them)
    presets = {name: p for name, p in load_presets().items() if name in ("No regularisation", "Collapse (strong lambda)")}
    for planned in plan_lessons(TINY_CONFIG, presets, num_seeds=2, group="lessons-abc123"):
        run = prepare_run(planned.config, runs_dir, name=planned.name, meta={"group": "lessons-abc123"})
        assert execute(run).status == "finished"
    at.run()
    assert not at.exception
    assert sum("2 runs, seeds 0, 1 (2 finished)" in c.value for c in at.caption) == 2  # both cards name both seeds
    verdicts = [m.value for m in [*at.success, *at.warning]]
    assert len(verdicts) == 2 and all(" of 2 seeds)" in v for v in verdicts), verdicts
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    curves = [spec for spec in specs if spec.get("data", {}).get("name") == "bands"]  # ui.lesson_charts' table
    assert len(curves) == 2 and all([layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line"]
                                    for spec in curves)


def test_the_lessons_train_on_the_sidebars_backend(runs_dir, monkeypatch):
    """"Train on" in the sidebar chooses where every run of the set trains, as on the Sweep page, and the
    note under the button says so. JobManager.submit is replaced by one that only notes what it was asked,
    so no worker process starts."""
    from lfm.lab.jobs import JobManager

    submitted = []

    def note(self, cfg, *, name=None, keep_alive=False, group=None, backend="thread", owner=None):
        submitted.append({"name": name, "group": group, "backend": backend})
        return object()

    monkeypatch.setattr(JobManager, "submit", note)
    at = lessons_page()
    at.selectbox(key="backend").set_value("process").run()
    assert any("they train on a worker process ('Train on', in the sidebar)" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Run the lessons").click().run()
    assert not at.exception
    ready, _ = available_lessons(load_presets())
    assert len(submitted) == len(ready) and {s["backend"] for s in submitted} == {"process"}
    assert {s["group"] for s in submitted} == {submitted[0]["group"]}
    assert submitted[0]["group"].startswith("lessons-")
