"""Training yields the CPU to the people watching it.

A dashboard's runs train on the machine that serves its pages, and a classroom's projector browser often
runs there too. Training will use every core it is given; a page is a short burst of work someone is
waiting for. So the dashboard trains at a lower CPU priority (a higher Unix "nice" value, 0 to 19): the
training gets every cycle nobody else wants, and it waits whenever a page needs the CPU. On an idle
machine nothing changes; a run's numbers never depend on its priority.

  train_nice_from_env()  LFM_TRAIN_NICE, the nice value the dashboard trains at (default 10; 0 = as the
                         server itself)
  lower_this_thread(n)   the calling thread only (Linux, where a thread has its own nice value): the
                         thread backend, which trains in the dashboard's own process
  lower_this_process(n)  a worker process of the process backend, called first thing in it (on Linux a
                         nice value belongs to a thread, and threads started later inherit it)

Both only ever lower the priority (raising it needs privileges) and do nothing where the OS has no such
notion. The command line (`lfm train`, `lfm sweep`) trains at the priority it was started with, which
`nice lfm ...` sets the Unix way.
"""

import os
import sys
import threading

NICE_ENV = "LFM_TRAIN_NICE"
DEFAULT_NICE = 10  # CFS gives a nice-0 task ~10x the CPU of a nice-10 one when both want it


def train_nice_from_env() -> int:
    """LFM_TRAIN_NICE as a whole number from 0 to 19; DEFAULT_NICE when unset. ValueError naming the
    variable and the allowed range for anything else."""
    text = os.environ.get(NICE_ENV, "").strip()
    if not text:
        return DEFAULT_NICE
    if not (text.isascii() and text.isdigit() and 0 <= int(text) <= 19):
        raise ValueError(f"{NICE_ENV} = {text!r}: allowed a whole number from 0 (as the dashboard) to 19 "
                         f"(train only on otherwise idle CPU)")
    return int(text)


def lower_this_thread(nice: int) -> bool:
    """Give the calling thread nice value `nice` (if that is lower priority than it has). True if done.

    Linux only: there setpriority(PRIO_PROCESS, thread id) sets one thread's value; elsewhere it would
    set the whole process's, the dashboard's page serving included, so nothing is done."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    return _lower(threading.get_native_id(), nice)


def lower_this_process(nice: int) -> bool:
    """Give this process nice value `nice`, if lower priority. True if done.

    On Linux this sets the calling thread, and every thread it starts afterwards inherits the value: call
    it before the process starts threads (a worker's initializer does), and the whole process runs at it."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    return _lower(0, nice)


def _lower(who: int, nice: int) -> bool:
    try:
        if os.getpriority(os.PRIO_PROCESS, who) >= nice:
            return False  # already as low or lower: never raise a priority
        os.setpriority(os.PRIO_PROCESS, who, nice)
        return True
    except OSError:  # e.g. a sandbox that forbids it: train at the priority we have
        return False
