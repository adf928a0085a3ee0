"""The reference app's worker with one more task, which counts its own runs in Redis: ``soak.count(hash)``
adds 1 to field ``<its task id>`` of the hash ``hash`` (in the Redis that ``SOAK_REDIS`` names), so a task
run twice reads 2 whatever any log says. ``celery -A benchmarks.counting_worker.celery worker``.
"""

from __future__ import annotations

import os
from typing import Any

from worker_entry import celery

_clients: dict[int, Any] = {}


def _redis() -> Any:
    import redis

    pid = os.getpid()  # one client per process (prefork children do not share their parent's)
    if pid not in _clients:
        _clients[pid] = redis.Redis.from_url(os.environ["SOAK_REDIS"])
    return _clients[pid]


@celery.task(name="soak.count", bind=True)
def count(self: Any, runs: str) -> None:
    _redis().hincrby(runs, self.request.id, 1)
