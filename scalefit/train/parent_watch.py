"""Worker processes that die with their parent, so that killing a sweep never leaves orphans training.

A sweep's worker trains for minutes or hours. If the sweep process is killed (``kill -9``, an OOM killer, a
closed terminal), an orphaned worker would keep training and writing its run file, and a sweep started again
would train the same run into the same file. :func:`die_with_parent` ends the worker with SIGKILL as soon as its
parent is gone, by two means:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, the kernel's parent-death signal (immediate);
- everywhere: a daemon thread that polls the parent pid (``os.getppid()`` changes when the parent dies and the
  worker is re-parented), every ``poll_s`` seconds.

SIGKILL rather than a gentler signal: run files are written one whole row per ``write`` and checkpoints are
replaced atomically, so a kill at any moment leaves a resumable run, and the kernel releases the run's lock.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int, *, use_prctl: bool = True, poll_s: float = 0.5) -> str:
    """Make this process exit (SIGKILL) when process ``parent_pid``, its parent, dies; return the means used.

    Meant as a process pool's ``initializer`` (``initargs=(os.getpid(),)`` in the parent). Returns
    ``"prctl+poll"`` or ``"poll"``.
    """
    means = "poll"
    if use_prctl and _set_parent_death_signal(signal.SIGKILL):
        means = "prctl+poll"
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        _kill_self()
    watcher = threading.Thread(target=_watch, args=(parent_pid, poll_s), name="scalefit-parent-watch", daemon=True)
    watcher.start()
    return means


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc symbol (musl builds without prctl, sandboxes)
        return False


def _watch(parent_pid: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent_pid:
            _kill_self()


def _kill_self() -> None:
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
