"""Lessons: the classic lambda settings trained side by side in one click, each judged by a stated rule.

A lesson is data: a name, the classroom preset it trains (assets/presets.json), the claim it makes in
one sentence, a rule on the run's final metrics that says whether the run shows the claim (its text is
printed on the lesson's card, so the class can check the verdict), and a question for the class. The
steps:
  1. available_lessons(presets) splits LESSONS into those whose preset exists and those still missing
     (the page names the missing ones instead of failing);
  2. plan_lessons(base, presets, seeds) -> one PlannedLesson per (lesson, seed): the base settings (the
     sidebar's) with the preset's overrides and the seed;
  3. submit_lessons(manager, ...) queues them all through the job manager, like a sweep: the same FIFO
     queue and concurrency cap, under a fresh group id "lessons-xxxxxx". A lesson set is therefore an
     ordinary group of runs in the store; lesson_sets lists the past ones, lesson_runs sorts a set's
     runs back into lessons (by the run name this module writes);
  4. judge(lesson, finals) evaluates the rule on the final metrics of the lesson's runs (one per seed):
     on their mean, and seed by seed, so the class sees whether a verdict is luck.
Thresholds are in bits for the default 4 experts (every entropy is at most log2(4) = 2 bits); the
numbers they rest on are the README's "What lambda does" table.
"""
from __future__ import annotations

import math
import operator
import secrets
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple, Sequence

from lfm.config import ConfigError, Preset, RunConfig, check_value

GROUP_PREFIX = "lessons-"
MAX_SEEDS = 3  # seeds per lesson: enough to show the spread, few enough to stay within the lesson time

METRIC_NAMES = {  # metrics.csv column -> how a rule's text names it
    "routing_entropy": "routing entropy", "load_entropy": "load entropy",
    "specialisation": "specialisation", "mi_regime": "I(expert; regime)"}
_OPERATORS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


class Condition(NamedTuple):
    """One comparison of a final metric with a threshold in bits, e.g. routing_entropy < 0.2."""
    metric: str       # a METRIC_NAMES key
    op: str           # "<", ">", "<=" or ">="
    threshold: float  # bits

    def holds(self, finals: Mapping[str, float]) -> bool | None:
        """True or False; None while the metric is missing (not logged yet, or NaN)."""
        value = finals.get(self.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return _OPERATORS[self.op](float(value), self.threshold)

    def text(self) -> str:
        return f"{METRIC_NAMES[self.metric]} {self.op} {self.threshold:g} bits"


@dataclass(frozen=True)
class Rule:
    """All conditions together; `shows` completes the sentence "...: <shows> observed"."""
    conditions: tuple[Condition, ...]
    shows: str  # e.g. "collapse"

    def holds(self, finals: Mapping[str, float]) -> bool | None:
        """True when every condition holds, False when one fails, None while one cannot be judged."""
        results = [c.holds(finals) for c in self.conditions]
        if False in results:
            return False
        return None if None in results else True

    def text(self) -> str:
        """The rule as printed on a card: 'routing entropy < 0.2 bits and load entropy < 1.2 bits: collapse observed'."""
        return " and ".join(c.text() for c in self.conditions) + f": {self.shows} observed"


@dataclass(frozen=True)
class Lesson:
    key: str       # short id, part of each run's name: [a-z-]
    name: str      # the card's title
    preset: str    # the preset it trains, by its name in assets/presets.json
    claim: str     # what the lesson shows, in one sentence
    rule: Rule     # whether the run shows it, judged on the final metrics
    question: str  # to ask the class


def _rule(shows: str, *conditions: tuple[str, str, float]) -> Rule:
    return Rule(tuple(Condition(*c) for c in conditions), shows)


LESSONS = (
    Lesson("none", "No regularisation", "No regularisation",
           "With λ = 0 nothing asks the gate to decide, so each sample's gate stays mixed over all the experts.",
           _rule("mixed gates", ("routing_entropy", ">", 1.8)),
           "The prediction loss alone could have taught the gate to route by regime. Why didn't it?"),
    Lesson("sharpen", "Sharpen", "Sharpen (lambda > 0)",
           "λ > 0 penalises routing entropy, so each sample's gate becomes decisive.",
           _rule("decisive gates", ("routing_entropy", "<", 0.5)),
           "Every gate is decisive now. Look at the load entropy: are all four experts still used?"),
    Lesson("collapse", "Collapse", "Collapse (strong lambda)",
           "A strong λ alone makes the gates decisive by sending the samples to few experts: collapse.",
           _rule("collapse", ("routing_entropy", "<", 0.2), ("load_entropy", "<", 1.2)),
           "Why is sending everything to one or two experts the cheapest way to zero routing entropy?"),
    Lesson("specialise", "Specialise", "Specialise (lambda > 0 + balance)",
           "λ > 0 plus a load-balance term keeps every expert in use, and the experts split the regimes "
           "between them.",
           _rule("specialisation by regime", ("load_entropy", ">", 1.8), ("mi_regime", ">", 1.2)),
           "Which regimes share an expert, and what do their waveforms have in common?"),
    Lesson("spread", "Spread", "Spread (lambda < 0)",
           "λ < 0 rewards routing entropy: every sample is spread evenly over all experts, and the input "
           "no longer decides the expert.",
           _rule("spread", ("routing_entropy", ">", 1.9), ("specialisation", "<", 0.1)),
           "This card looks like 'No regularisation'. Would it still, with data that rewards specialising?"),
    Lesson("blind", "Blind gate", "Blind gate",
           "When every regime has the same level, a gate that sees only the window's mean cannot tell the "
           "regimes apart, however hard λ and balance push.",
           _rule("a blind gate", ("mi_regime", "<=", 0.2)),
           "The gate still routes decisively. What is it routing on, if not the regime?"),
    Lesson("seeing", "Seeing gate", "Seeing gate",
           "The same data and λ, but the gate reads the first half of each window through a learned summary "
           "(small convolutions): now it sees the waveform, not just its level, and routes by regime.",
           _rule("routing by regime", ("mi_regime", ">=", 1.2)),
           "The summary reads the window's first half, and only the steps after it count in the loss. Why "
           "does that matter: what could a summary of the whole window copy?"),
)


def lesson_by_key(key: str) -> Lesson | None:
    return next((lesson for lesson in LESSONS if lesson.key == key), None)


class Availability(NamedTuple):
    ready: list[Lesson]    # their preset is in presets.json
    missing: list[Lesson]  # their preset is not (yet): the page says so and skips them


def available_lessons(presets: Mapping[str, Preset], lessons: Sequence[Lesson] = LESSONS) -> Availability:
    ready = [lesson for lesson in lessons if lesson.preset in presets]
    return Availability(ready, [lesson for lesson in lessons if lesson.preset not in presets])


def check_seeds(num_seeds) -> int:
    """The number of seeds per lesson, 1 to MAX_SEEDS; ConfigError naming num_seeds otherwise."""
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, (int, float)) \
            or not float(num_seeds).is_integer() or not 1 <= num_seeds <= MAX_SEEDS:
        raise ConfigError(f"num_seeds = {num_seeds!r} is not a number of seeds per lesson: allowed integers "
                          f"1 to {MAX_SEEDS}", "num_seeds")
    return int(num_seeds)


class PlannedLesson(NamedTuple):
    lesson: Lesson
    seed: int
    name: str          # the run's name: "<group> <lesson key> seed=<seed>"
    config: RunConfig  # the base settings with the preset's overrides and this seed


def new_group_id() -> str:
    """A fresh lesson-set id, e.g. "lessons-3f2a9c"."""
    return GROUP_PREFIX + secrets.token_hex(3)


def run_name(group: str, lesson: Lesson, seed: int) -> str:
    return f"{group} {lesson.key} seed={seed}"


def plan_lessons(base: RunConfig, presets: Mapping[str, Preset], num_seeds: int = 1,
                 group: str | None = None, lessons: Sequence[Lesson] = LESSONS) -> list[PlannedLesson]:
    """One run per (seed, lesson) of the lessons whose preset exists, seeds outermost.

    Seeds are base seed, base seed + 1, ...: seeds outermost (with runs started oldest first) puts a
    first run of every lesson on the page before any second seed, as a sweep does. A preset that sets
    a seed itself is overridden: the set decides the seeds, so the spread between them means something."""
    num_seeds = check_seeds(num_seeds)
    group = group or new_group_id()
    ready = available_lessons(presets, lessons).ready
    planned = []
    for k in range(num_seeds):
        seed = check_value("seed", base.training.seed + k)
        for lesson in ready:
            config = base.with_overrides({**presets[lesson.preset].overrides, "seed": seed})
            planned.append(PlannedLesson(lesson, seed, run_name(group, lesson, seed), config))
    return planned


def submit_lessons(manager, base: RunConfig, presets: Mapping[str, Preset], num_seeds: int = 1, *,
                   keep_alive: bool = False, backend: str = "thread", owner: str | None = None) -> str:
    """Queue every run of a lesson set with manager (a lfm.lab.jobs.JobManager); returns the group id.

    Whole or not at all, as lfm.lab.sweep.submit_sweep: if one run is refused, those already queued
    are taken off again and the error is raised. backend: where the runs train (thread, process or ray:
    lfm/lab/backends.py), as for a sweep; owner: the browser session starting the set (only it stops
    the set, lfm/lab/ownership.py)."""
    group = new_group_id()
    jobs = []
    try:
        for run in plan_lessons(base, presets, num_seeds, group):
            jobs.append(manager.submit(run.config, name=run.name, group=group, keep_alive=keep_alive,
                                       backend=backend, owner=owner))
    except BaseException:
        for job in jobs:
            manager.withdraw(job)  # no "cancelled" records: these runs were never the user's
        raise
    return group


def lesson_runs(summaries: Iterable, group: str) -> dict[str, list]:
    """The set's runs in the store by lesson key, oldest first; summaries: RunReader.list_runs() (newest
    first). A run is placed by the name plan_lessons gave it; runs of unknown lessons are left out."""
    by_lesson: dict[str, list] = {}
    for summary in reversed(list(summaries)):
        if summary.meta.get("group") != group or not summary.name:
            continue
        parts = summary.name.split(" ")
        if len(parts) >= 2 and parts[0] == group and lesson_by_key(parts[1]) is not None:
            by_lesson.setdefault(parts[1], []).append(summary)
    return by_lesson


def lesson_sets(groups: Iterable) -> list:
    """The lesson sets among lfm.lab.sweep.sweep_groups(...)'s groups, in the same order (newest first)."""
    return [g for g in groups if g.group.startswith(GROUP_PREFIX)]


class Verdict(NamedTuple):
    holds: bool | None         # on the mean of the seeds' final metrics; None: not judged yet
    seeds_held: int            # seeds whose own final metrics satisfy the rule
    seeds_judged: int          # seeds with a finished run
    finals: dict[str, float]   # the mean final metrics the verdict rests on (METRIC_NAMES keys)

    def text(self, lesson: Lesson) -> str:
        """One line for the card, e.g. 'Shown: collapse observed (2 of 2 seeds)'."""
        if self.holds is None:
            return "Not judged yet: the verdict comes when the lesson's runs have finished."
        seeds = f" ({self.seeds_held} of {self.seeds_judged} seeds)" if self.seeds_judged > 1 else ""
        if self.holds:
            return f"Shown: {lesson.rule.shows} observed{seeds}."
        runs = "these runs do" if self.seeds_judged > 1 else "this run does"
        return f"Not shown: {runs} not meet the rule{seeds}."


def judge(lesson: Lesson, finals: Sequence[Mapping[str, float]]) -> Verdict:
    """The lesson's rule on its finished runs' final metrics (one dict per seed, METRIC_NAMES keys).

    The verdict is the rule on the mean over seeds; each seed is judged on its own as well. No finished
    run: not judged (holds None)."""
    if not finals:
        return Verdict(None, 0, 0, {})
    mean = {}
    for metric in METRIC_NAMES:
        values = [float(f[metric]) for f in finals if f.get(metric) is not None and not math.isnan(float(f[metric]))]
        mean[metric] = sum(values) / len(values) if values else math.nan
    per_seed = [lesson.rule.holds(f) for f in finals]
    return Verdict(lesson.rule.holds(mean), sum(h is True for h in per_seed), len(finals), mean)
