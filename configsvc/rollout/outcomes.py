"""How many tasks a worker finished and how many of them failed, by Celery's own outcome: what ``configsvc
rollout`` compares between the processes that applied a new configuration and the ones that did not.

Counted in whichever process ran the task (a prefork worker's pool processes), in shared memory made
when this module is first imported — in the worker's main process, before its pool forks.
"""

from __future__ import annotations

import multiprocessing

_counts = multiprocessing.Array("Q", 2)  # succeeded, failed; with a lock of its own


def count(state: str) -> None:
    """One finished task: ``SUCCESS`` or ``FAILURE`` (a retry, reject or ignore is neither)."""
    index = {"SUCCESS": 0, "FAILURE": 1}.get(state)
    if index is None:
        return
    with _counts.get_lock():
        _counts[index] += 1


def snapshot() -> dict[str, int]:
    """Tasks finished since the worker started: ``{"succeeded": n, "failed": m}``."""
    with _counts.get_lock():
        return {"succeeded": int(_counts[0]), "failed": int(_counts[1])}
