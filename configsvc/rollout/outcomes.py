"""How many tasks a worker finished and how many of them failed, by Celery's own outcome: what ``configsvc
rollout`` compares between the processes that applied a new configuration and the ones that did not.

Counted in whichever process ran the task (a prefork worker's pool processes), in shared memory that
:func:`prepare` makes in the worker's main process when it starts (``worker_init``), before its pool forks.
A process that never starts a worker (a web process) makes none, and imports nothing of multiprocessing
(about 0.6 MB of memory with ctypes).
"""

from __future__ import annotations

import threading
from typing import Any

_counts: Any = None  # multiprocessing.Array("Q", 2): succeeded, failed; with a lock of its own
_making = threading.Lock()


def prepare() -> None:
    """Make the shared counts (once; in a worker's main process, before its pool forks)."""
    global _counts
    with _making:
        if _counts is None:
            import multiprocessing

            _counts = multiprocessing.Array("Q", 2)


def count(state: str) -> None:
    """One finished task: ``SUCCESS`` or ``FAILURE`` (a retry, reject or ignore is neither)."""
    index = {"SUCCESS": 0, "FAILURE": 1}.get(state)
    if index is None:
        return
    if _counts is None:
        prepare()  # a task run outside a started worker: counted in this process
    with _counts.get_lock():
        _counts[index] += 1


def snapshot() -> dict[str, int]:
    """Tasks finished since the worker started: ``{"succeeded": n, "failed": m}``."""
    if _counts is None:
        return {"succeeded": 0, "failed": 0}
    with _counts.get_lock():
        return {"succeeded": int(_counts[0]), "failed": int(_counts[1])}
