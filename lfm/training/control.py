"""TrainingControl: steering a run from outside its training thread (the dashboard's buttons, Ctrl-C).

The other thread calls stop / pause / resume / step / set_lambda; the loop asks, once per step, whether
to wait (wait_while_paused), whether to end (stopped) and whether lambda changed (take_lambda), and
tells it when a log interval is over (after_log), which is where the Step button pauses again.
"""

import threading
import time
from typing import Callable


class TrainingControl:
    """Thread-safe steering of a run from outside the training thread: stop, pause, step, change lambda."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._lock = threading.Lock()  # guards the two requests below
        self._pause_after_log = False  # Step was pressed: pause again after the next log step
        self._pending_lambda: float | None = None  # set_lambda's value, until the loop takes it
        self.stop_reason = ""  # completes "stopped ... at step N" in the run's status

    # ---- called from outside the training thread ------------------------------------------------------
    def stop(self, reason: str = "by the user") -> None:
        """Stop at the next step; `reason` completes "stopped ... at step N" in the run's status."""
        self.stop_reason = reason
        with self._lock:
            self._pause_after_log = False  # a pending Step must not pause the loop again after this
        self._stop.set()
        self._running.set()  # wake a paused loop so it can see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def step(self) -> None:
        """Run one log interval, then pause again (TF Playground's step button)."""
        with self._lock:
            self._pause_after_log = True
        self._running.set()

    def set_lambda(self, value: float) -> None:
        """Change lambda_entropy from the next step on, without restarting the run."""
        with self._lock:
            self._pending_lambda = float(value)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # ---- called by the training loop ------------------------------------------------------------------
    def take_lambda(self) -> float | None:
        """The lambda set since the last call, once; None when there is no new one."""
        with self._lock:
            value, self._pending_lambda = self._pending_lambda, None
        return value

    def after_log(self) -> None:
        """A log interval ended: pause here if Step asked for exactly one interval."""
        with self._lock:
            if self._pause_after_log:
                self._pause_after_log = False
                self._running.clear()

    def wait_while_paused(self, tick: Callable[[], None]) -> float:
        """Block while paused, calling tick() about once a second; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        while not self._running.wait(timeout=1.0):
            tick()  # lets the run store show the run as alive, not interrupted
        return time.perf_counter() - start
