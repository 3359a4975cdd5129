"""Lessons: every classic λ setting trained side by side in one click, each card judged by its stated rule.

1. the base settings are the sidebar's; each lesson (lfm.lab.lessons.LESSONS) puts its preset's
   overrides on top. A lesson whose preset is not in assets/presets.json is skipped, with a note;
2. "Run the lessons" queues every run through the dashboard's JobManager, like a sweep: the same queue
   and the same cap on runs training at once, on the sidebar's "Train on" backend (a thread, a worker process,
   Ray); 1 to 3 seeds per lesson (the cards then show the spread);
   while its runs train, a button stops the rest of the set;
3. a lesson set is a group of runs in the store ("lessons-xxxxxx"), so any past set can be reopened.
   Its cards fill in live: the expert × regime matrix, the entropies and I(expert; regime) over
   training, the claim, the rule with its verdict on the final metrics, and a question for the class;
4. the whole set downloads as one PNG or SVG sheet for slides.
"""

import numpy as np
import pyarrow as pa
import streamlit as st

from lfm.config import ConfigError, load_presets
from lfm.lab.lessons import (LESSONS, MAX_SEEDS, available_lessons, judge, lesson_runs, lesson_sets,
                             plan_lessons, submit_lessons)
from lfm.lab.sweep import sweep_groups, sweep_progress
from lfm.store.damage import RunDamaged
from lfm.store.files import UnsafeFile
from lfm.store.results import curves, results_table
from lfm.store.schema import RunState
from ui import damaged, lesson_charts, ownership, run_charts, state
from ui.explore_charts import SVG_EXPORT_AVAILABLE, svg_bytes
from ui.groups import group_progress, launch_group, pick_group
from ui.images import png_bytes
from ui.live import list_runs, watch_for_new_runs
from ui.routing import through_router
from ui.settings import render_settings, where_runs_train

LATEST = "(the newest lesson set)"
SHOWN = "lessons_show"  # session key of the set picker
REFRESH_S = 1.5
CARDS_PER_ROW = 3

through_router()  # a direct link on a fresh server: see ui/routing.py
st.title("Lessons")
st.caption("The whole story of λ on one screen: each classic setting trained side by side, and each card says "
           "what it should show, whether this run shows it (by the rule on the card), and what to ask the class. "
           "The settings come from the sidebar (the defaults take about a minute on two cores); each run is an "
           "ordinary run in the store, so it also shows on **Runs** and **Compare**.")
settings = render_settings()
ownership.teacher_unlock()
manager, reader, watcher = state.manager(), state.reader(), state.watcher()
presets = load_presets()
ready, missing = available_lessons(presets)

# 1. Launch a set.
c1, c2, c3 = st.columns([1, 1.5, 1.5])
num_seeds = c1.number_input("Seeds per lesson", 1, MAX_SEEDS, 1, key="lessons_seeds",
                            help="Train each lesson with 1 to 3 seeds (the sidebar's seed, then the next ones): "
                                 "the cards then show the mean and the spread, so the class sees what is luck.")
keep_alive = c2.checkbox("Keep training when every tab is closed", key="lessons_keep_alive")
planned = []
try:
    planned = plan_lessons(settings.config, presets, num_seeds, group="lessons-····") if settings.config else []
except ConfigError as exc:  # a preset's overrides do not fit the sidebar's settings (e.g. the size budget)
    st.error(f"The lessons cannot use these settings: {exc}")
c3.caption(f"{len(planned) or len(ready) * num_seeds} runs: {', '.join(lesson.name for lesson in ready)}. "
           f"At most {manager.max_concurrent} train at once; the rest wait in the dashboard's queue, as a sweep's do; "
           f"{where_runs_train(settings.backend)}.")
for lesson in missing:
    st.info(f"Skipped: **{lesson.name}**. Its preset \"{lesson.preset}\" is not in assets/presets.json yet.",
            icon=":material/info:")
if settings.config is None:
    st.error("Fix the settings marked in the sidebar: they are the base of every lesson.")
if st.button("Run the lessons", icon=":material/school:", type="primary", disabled=not planned):
    launch_group(lambda: submit_lessons(manager, settings.config, presets, num_seeds, keep_alive=keep_alive,
                                        backend=settings.backend, owner=ownership.owner_id()),
                 SHOWN, "Lesson set", len(planned), "Not started")

# 2. The set shown: the newest, or a past one.
runs = list_runs(reader, watcher)
sets = lesson_sets(sweep_groups(runs, manager))
if not sets:
    st.info("No lesson sets yet: press **Run the lessons**.")
    watch_for_new_runs(watcher)
    st.stop()
group = pick_group(sets, "Lesson set", key=SHOWN, latest=LATEST)
live = sweep_progress(reader, manager, group, runs).active


def _draw(spec: dict) -> None:
    """A Vega-Lite dict from a template (ui.templates), its tables as Arrow made on one thread (as ui.live)."""
    spec["datasets"] = {key: pa.Table.from_pandas(table, nthreads=1) for key, table in spec["datasets"].items()}
    st.vega_lite_chart(spec, width="stretch")


def gather(runs) -> list[dict]:
    """Each lesson of the set that has runs, in LESSONS order: its runs, their final numbers and curves, the
    mean final expert × regime matrix, and the verdict of its rule on the finished runs."""
    by_lesson = lesson_runs(runs, group)
    table = results_table(reader, [s.run_id for summaries in by_lesson.values() for s in summaries])
    table = table.set_index("run_id", drop=False)
    found = []
    for lesson in LESSONS:
        summaries = by_lesson.get(lesson.key, [])
        if not summaries:
            continue
        ids = [s.run_id for s in summaries if s.run_id in table.index]
        rows = table.loc[ids]
        done = rows[rows["state"] == RunState.FINISHED]
        matrices = [m for m in (_last_matrix(run_id) for run_id in ids) if m is not None]
        info = next(filter(None, (_info(run_id) for run_id in ids)), None)
        found.append({
            "lesson": lesson, "rows": rows, "curves": curves(reader, ids),
            "matrix": np.mean(matrices, axis=0).tolist() if matrices else None,
            "regimes": (info or {}).get("regime_names"), "num_experts": int((info or {}).get("num_experts") or 4),
            "verdict": judge(lesson, done.to_dict("records")),
        })
    return found


def _last_matrix(run_id):
    """The run's newest expert × regime matrix; None before one, or from a damaged run (named on the page)."""
    try:
        gates = reader.read_gates(run_id, last_only=True)
    except (RunDamaged, UnsafeFile):
        return None
    return gates[-1].get("regime_matrix") if gates else None


def _info(run_id):
    """The run's info.json (regime names, experts); None before it is written, or from a damaged run."""
    try:
        return reader.info(run_id)
    except (RunDamaged, UnsafeFile):
        return None


def card(item) -> None:
    lesson, verdict, rows = item["lesson"], item["verdict"], item["rows"]
    with st.container(border=True):
        st.subheader(lesson.name)
        st.markdown(lesson.claim)
        if item["matrix"] is not None:
            _draw(run_charts.live_spec("regime_matrix_chart", item["matrix"], item["regimes"]))
        else:
            st.caption("The expert × regime matrix appears with the first log step.")
        _draw(lesson_charts.lesson_curves_chart.data_step(item["curves"], item["num_experts"], height=150).spec())
        states = ", ".join(f"{n} {s}" for s, n in rows["state"].value_counts().items())
        seeds = sorted(int(seed) for seed in rows["seed"].dropna().unique())
        st.caption(f"{len(rows)} run{'s' * (len(rows) != 1)}, seed{'s' * (len(seeds) != 1)} "
                   f"{', '.join(map(str, seeds))} ({states}) · preset \"{lesson.preset}\"")
        st.markdown(f"**Rule:** {lesson.rule.text()}")
        if verdict.holds is None:
            st.info(verdict.text(lesson), icon=":material/hourglass_top:")
        else:
            numbers = " · ".join(f"{name} {verdict.finals[key]:.2f}" for key, name in
                                 (("routing_entropy", "routing H"), ("load_entropy", "load H"),
                                  ("mi_regime", "I(expert; regime)")) if not np.isnan(verdict.finals[key]))
            (st.success if verdict.holds else st.warning)(f"{verdict.text(lesson)} Final: {numbers} bits.",
                                                          icon=":material/check_circle:" if verdict.holds
                                                          else ":material/help:")
        st.markdown(f"**Ask the class:** {lesson.question}")


@st.fragment(run_every=REFRESH_S if live else None)
def lesson_cards():
    runs_now = list_runs(reader, watcher)
    progress = sweep_progress(reader, manager, group, runs_now)
    group_progress(progress, manager, "lesson set", key="lessons_stop")
    damaged.warn_damaged(s for summaries in lesson_runs(runs_now, group).values() for s in summaries)
    items = gather(runs_now)
    judged = [item for item in items if item["verdict"].holds is not None]
    if items and len(judged) == len(items):
        shown = sum(item["verdict"].holds for item in judged)
        st.markdown(f"**All {len(items)} lessons judged: {shown} shown as claimed.**")
    for start in range(0, len(items), CARDS_PER_ROW):
        for column, item in zip(st.columns(CARDS_PER_ROW), items[start:start + CARDS_PER_ROW]):
            with column:
                card(item)
    st.caption(lesson_charts.EXPLANATION)
    if live and not progress.active:
        st.rerun()  # the set ended: redraw the page once, so the refresh turns off


def sheet():
    """The set's cards on one picture (ui.lesson_charts.lesson_sheet), read from the store when asked for.

    Called by the download button after the page's run, so it touches no st.* (the run list comes from the
    reader itself, not the session's cache)."""
    cards = [lesson_charts.Card(item["lesson"].name, item["lesson"].claim, item["lesson"].rule.text(),
                                item["verdict"].text(item["lesson"]), item["matrix"], item["regimes"], item["curves"],
                                item["num_experts"], item["lesson"].question)
             for item in gather(reader.list_runs())]
    return lesson_charts.lesson_sheet(cards, columns=4, title=f"Lessons of λ · {group}")


lesson_cards()
if SVG_EXPORT_AVAILABLE:
    b1, b2, _ = st.columns([1, 1, 3])
    b1.download_button("Sheet for slides (PNG)", lambda: png_bytes(sheet()), f"lfm-{group}.png", "image/png",
                       icon=":material/image:", key="lessons_png", width="stretch")
    b2.download_button("Sheet for slides (SVG)", lambda: svg_bytes(sheet()), f"lfm-{group}.svg", "image/svg+xml",
                       icon=":material/image:", key="lessons_svg", width="stretch")
else:
    st.caption("The sheet for slides needs the `vl-convert-python` package: `pip install vl-convert-python`.")
if not live:
    watch_for_new_runs(watcher)
