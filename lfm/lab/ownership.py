"""Who may steer a run from a shared dashboard: the browser session that started it, or an unlocked teacher.

One dashboard process serves every browser tab open on it: on a classroom server, thirty students' tabs.
Each run it starts records its owner, a random label drawn once per browser session (Steerer.owner_id).
The label is kept on the Job and in config.json's meta["owner"], so every view can tell whose a run is,
after a restart too. It is a name, not a credential: a session's label lives on the server, and no
browser can choose the label of its own session, so reading someone's label grants nothing.

The rule (may_steer), in order:
  1. a session whose teacher unlocked control (with the teacher password) steers every run;
  2. a run with an owner is steered by that session only (other tabs watch);
  3. a run without an owner — started by `lfm train`, or by a dashboard from before runs had owners — is
     steered by any tab while no teacher password is configured (a personal dashboard: whoever sits at
     the page also has the terminal), and only by an unlocked teacher once one is (a shared dashboard).

steering_note says the rule's outcome for one run in words, as a page shows it next to the run.

This guards the dashboard's buttons, not the run folders: `lfm control` writes a run's control.jsonl, and
whoever can write to the runs folder can steer any run from the command line, as before.
"""
from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Mapping, NamedTuple

OWNER_KEY = "owner"  # the key in config.json's "meta"
PASSWORD_ENV = "LFM_TEACHER_PASSWORD"

OTHER_TAB = ("Started in another browser tab (or in this one before it was reloaded): you can watch it; "
             "ask the teacher to unlock control.")
NO_OWNER = ("Started outside this dashboard (the command line, or an earlier dashboard): you can watch it; "
            "ask the teacher to unlock control.")
# What steering_note says where may_steer allows (the refusals say it in their reasons above).
THIS_TAB = "Started from this browser tab: you steer it; other tabs watch, unless a teacher unlocks control there."
NO_OWNER_OPEN = ("Started outside this dashboard (the command line, or an earlier dashboard): any tab may steer "
                 "it, as no teacher password is set.")
UNLOCKED = "you steer it, as the teacher password unlocked control in this tab."


def new_owner_id() -> str:
    """A fresh owner label for one browser session (64 random bits: sessions never share one by chance)."""
    return secrets.token_hex(8)


def owner_of(meta: Mapping | None) -> str | None:
    """The owner recorded in a run's config.json "meta" (RunSummary.meta), or None: a run started by the
    CLI, by an older dashboard, or whose record holds no usable label."""
    owner = meta.get(OWNER_KEY) if isinstance(meta, Mapping) else None
    return owner if isinstance(owner, str) and owner else None


@dataclass(frozen=True)
class Steerer:
    """Who is pressing the buttons: one browser session, as the page knows it."""
    owner_id: str | None  # this session's label; None: no browser session (a script or a test)
    unlocked: bool = False  # the teacher password was given in this session: every run may be steered
    teacher_configured: bool = False  # a teacher password exists: runs without an owner need the unlock


WATCHER = Steerer(owner_id=None)  # steers nothing: the default of RunControls, so a forgotten steerer fails closed
ANYONE = Steerer(owner_id=None, unlocked=True)  # code outside any browser session, as the CLI (scripts, tests)


class Permission(NamedTuple):
    allowed: bool
    reason: str  # why not, in words for the page; "" when allowed


def may_steer(steerer: Steerer, owner: str | None) -> Permission:
    """Whether `steerer` may pause, step, stop or re-weight a run owned by `owner` (the module docstring's rule)."""
    if steerer.unlocked:
        return Permission(True, "")
    if steerer.owner_id is None:
        return Permission(False, "Not sent from a browser session: watching only.")
    if owner is not None:  # a label, not a secret: a plain comparison
        return Permission(True, "") if owner == steerer.owner_id else Permission(False, OTHER_TAB)
    if steerer.teacher_configured:
        return Permission(False, NO_OWNER)
    return Permission(True, "")


def steering_note(steerer: Steerer, owner: str | None) -> str:
    """Where a run of `owner` was started and whether `steerer` may steer it, in words for a page: may_steer's
    own reason where it refuses. It says "this tab" or "another tab", never another session's label."""
    allowed, reason = may_steer(steerer, owner)
    if owner is not None and owner == steerer.owner_id:
        return THIS_TAB
    if not allowed:
        return reason
    if steerer.unlocked:
        started = "in another browser tab" if owner is not None else "outside this dashboard"
        return f"Started {started}: {UNLOCKED}"
    return NO_OWNER_OPEN  # allowed, neither its own nor unlocked: no owner on a dashboard without a password


class SteeringRefused(PermissionError):
    """A command for a run that the session sending it may not steer (see may_steer)."""


def check_steer(steerer: Steerer, owner: str | None) -> None:
    """Raise SteeringRefused, with the page's reason, unless steerer may steer a run of owner."""
    allowed, reason = may_steer(steerer, owner)
    if not allowed:
        raise SteeringRefused(reason)


def password_matches(typed: str, password: str) -> bool:
    """Whether the typed password is the teacher's, compared in constant time (hmac.compare_digest) so
    the time a wrong guess takes says nothing about how much of it was right. An empty password never
    matches."""
    if not password:
        return False
    return hmac.compare_digest(typed.encode("utf-8"), password.encode("utf-8"))


def password_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The teacher password from $LFM_TEACHER_PASSWORD, or None where it is unset or empty."""
    return environ.get(PASSWORD_ENV) or None
