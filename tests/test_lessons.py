"""The lessons as data: each rule on recorded metrics, the plan of a lesson set, and a set through the queue.

The recorded metrics are the README's "What lambda does" table (default data and settings, seed 0) and the
issue's trials of the blind and seeing gates: each lesson's rule must hold on its own preset's numbers and
fail on a neighbour's that does not show the claim.
"""

import math

import pytest

from lfm.config import ConfigError, Preset, RunConfig, load_presets
from lfm.lab.jobs import JobManager
from lfm.lab.lessons import (LESSONS, MAX_SEEDS, available_lessons, judge, lesson_by_key, lesson_runs,
                             plan_lessons, submit_lessons)
from lfm.store import RunReader
from tiny import TINY_CONFIG


def finals(routing, load, mi):
    return {"routing_entropy": routing, "load_entropy": load, "specialisation": load - routing, "mi_regime": mi}


RECORDED = {  # README, "What lambda does": (routing H, load H, I(expert; regime)) at the end of each preset
    "no regularisation": finals(1.998, 2.000, 0.001),
    "sharpen": finals(0.009, 0.847, 0.837),
    "collapse": finals(0.009, 0.848, 0.839),
    "specialise": finals(0.452, 1.986, 1.531),
    "spread": finals(2.000, 2.000, 0.000),
    "default": finals(0.634, 1.073, 0.424),
    # the trials on shared levels: the mean summary, and a two-layer causal convolution
    "blind": finals(0.05, 1.9, 0.09),
    "statistics summary": finals(0.2, 1.37, 0.25),
    "conv summary": finals(0.3, 1.95, 1.26),
}

CASES = [  # lesson key, recorded run, whether the rule must hold
    ("none", "no regularisation", True), ("none", "default", False),
    ("sharpen", "sharpen", True), ("sharpen", "no regularisation", False),
    ("collapse", "collapse", True), ("collapse", "specialise", False), ("collapse", "default", False),
    ("specialise", "specialise", True), ("specialise", "collapse", False), ("specialise", "spread", False),
    ("spread", "spread", True), ("spread", "default", False),
    ("blind", "blind", True), ("blind", "specialise", False),
    ("seeing", "conv summary", True), ("seeing", "statistics summary", False),
]


@pytest.mark.parametrize("key, recorded, holds", CASES)
def test_each_rule_on_recorded_metrics(key, recorded, holds):
    lesson = lesson_by_key(key)
    assert lesson.rule.holds(RECORDED[recorded]) is holds
    verdict = judge(lesson, [RECORDED[recorded]])
    assert verdict.holds is holds and verdict.seeds_held == int(holds) and verdict.seeds_judged == 1
    assert verdict.text(lesson).startswith("Shown:" if holds else "Not shown:")


def test_every_lesson_has_a_rule_case_both_ways_and_says_what_it_needs():
    for lesson in LESSONS:
        assert {holds for key, _, holds in CASES if key == lesson.key} == {True, False}, lesson.key
        assert lesson.claim.endswith(".") and lesson.question.endswith("?")
        assert lesson.rule.text().endswith(f": {lesson.rule.shows} observed")


def test_the_rule_text_names_metrics_thresholds_and_units():
    assert lesson_by_key("collapse").rule.text() == ("routing entropy < 0.2 bits and load entropy < 1.2 bits: "
                                                      "collapse observed")


def test_a_missing_metric_leaves_the_verdict_open_and_no_run_is_not_judged():
    lesson = lesson_by_key("specialise")
    assert lesson.rule.holds({"load_entropy": 1.9, "mi_regime": math.nan}) is None
    assert lesson.rule.holds({"load_entropy": 1.0, "mi_regime": math.nan}) is False  # one failure decides
    verdict = judge(lesson, [])
    assert verdict.holds is None and verdict.text(lesson).startswith("Not judged yet")


def test_seeds_are_judged_on_their_mean_and_counted_one_by_one():
    lesson = lesson_by_key("specialise")
    seeds = [finals(0.4, 1.95, 1.5), finals(0.5, 1.9, 1.1), finals(0.45, 1.98, 1.4)]  # the second misses 1.2
    verdict = judge(lesson, seeds)
    assert verdict.holds is True and (verdict.seeds_held, verdict.seeds_judged) == (2, 3)
    assert verdict.finals["mi_regime"] == pytest.approx(4.0 / 3)
    assert "(2 of 3 seeds)" in verdict.text(lesson)


def test_lessons_without_their_preset_are_skipped():
    presets = {"No regularisation": Preset("", {"lambda_entropy": 0.0}), "Spread (lambda < 0)": Preset("", {})}
    ready, missing = available_lessons(presets)
    assert [lesson.key for lesson in ready] == ["none", "spread"]
    assert {lesson.key for lesson in missing} == {lesson.key for lesson in LESSONS} - {"none", "spread"}
    shipped = load_presets()
    assert {"none", "sharpen", "collapse", "specialise", "spread"} <= {l.key for l in available_lessons(shipped).ready}


def test_plan_puts_each_preset_on_the_base_settings_seeds_outermost():
    presets = load_presets()
    ready = available_lessons(presets).ready
    base = TINY_CONFIG.with_overrides({"seed": 5})
    planned = plan_lessons(base, presets, num_seeds=2, group="lessons-abc123")
    assert len(planned) == 2 * len(ready)
    assert [p.seed for p in planned] == [5] * len(ready) + [6] * len(ready)
    for p in planned:
        expected = base.with_overrides({**presets[p.lesson.preset].overrides, "seed": p.seed})
        assert p.config == expected and p.config.model.token_dim == 8
        assert p.name == f"lessons-abc123 {p.lesson.key} seed={p.seed}"


@pytest.mark.parametrize("bad", [0, MAX_SEEDS + 1, 1.5, True, "2"])
def test_the_number_of_seeds_is_checked(bad):
    with pytest.raises(ConfigError, match="num_seeds"):
        plan_lessons(RunConfig(), load_presets(), num_seeds=bad)


def test_a_lesson_set_runs_through_the_queue_as_one_group(tmp_path):
    presets = {name: p for name, p in load_presets().items()
               if name in ("No regularisation", "Collapse (strong lambda)")}
    manager = JobManager(tmp_path, max_concurrent=2)
    try:
        group = submit_lessons(manager, TINY_CONFIG, presets, num_seeds=1)
        for job in manager.jobs():
            assert manager.wait(job, timeout=120)
    finally:
        manager.close()
    assert group.startswith("lessons-")
    by_lesson = lesson_runs(RunReader(tmp_path).list_runs(), group)
    assert sorted(by_lesson) == ["collapse", "none"]
    assert all(len(runs) == 1 and runs[0].state == "finished" for runs in by_lesson.values())
    assert by_lesson["collapse"][0].config["hyperparameters"]["lambda_entropy"] == 1.0
