"""The tasks a worker has taken and not yet acknowledged: what a switch to new broker settings waits for.

Counted from Celery's worker state (``active_requests``, ``reserved_requests``) and, for the moment
between Celery marking a task done and a pool acknowledging its message, from the requests the consumer
received (:class:`Finishing`). Celery's request attributes used here (``time_start``, ``acknowledged``)
and its ``task_received`` signal are public. Checked against Celery 5.7.0.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger("configsvc.celery")


# A task marked ready whose acknowledgement has not followed within this long is not waited for again.
FINISHING_GRACE_SECONDS = 10.0


class Finishing:
    """The requests a worker's consumer received (Celery's ``task_received`` signal; weakly held) that
    have started and whose message is not acknowledged yet.

    Celery's ``Request.on_success`` marks a task ready (out of ``active_requests``) *before* it
    acknowledges the message, and in the threads, gevent and eventlet pools it runs in the pool's
    thread or greenlet: for a moment a task is in neither set and its acknowledgement not yet written.
    A switch in that moment would close the connection under it, and the broker deliver it again.
    """

    def __init__(self, consumer: Any) -> None:
        import weakref

        from celery import signals

        self.received: weakref.WeakSet[Any] = weakref.WeakSet()
        self.since: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.given_up: weakref.WeakSet[Any] = weakref.WeakSet()
        signals.task_received.connect(self._received, sender=consumer, weak=False)

    def _received(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        if request is not None:
            self.received.add(request)

    def count(self) -> int:
        from celery.worker import state

        now, finishing = time.monotonic(), 0
        for request in list(self.received):
            if not request.time_start or request.acknowledged:
                continue
            if request in state.active_requests or request in state.reserved_requests:
                continue  # counted there
            since = self.since.setdefault(request, now)
            if now - since < FINISHING_GRACE_SECONDS:
                finishing += 1
            elif request not in self.given_up:
                self.given_up.add(request)
                logger.warning("configsvc: task %s finished %.0f s ago and its message is still not "
                               "acknowledged; the switch no longer waits for it", request.id, now - since)
        return finishing


def track_finishing(consumer: Any) -> None:
    """Start keeping :class:`Finishing` for ``consumer`` (before it receives its first message)."""
    if "configsvc_finishing" not in consumer.__dict__:
        consumer.configsvc_finishing = Finishing(consumer)


def tasks_in_flight(consumer: Any = None) -> int:
    """The tasks this worker process has taken and not yet acknowledged: running, reserved, or (with
    ``consumer`` tracked by :func:`track_finishing`) finished with the acknowledgement still to come."""
    from celery.worker import state

    finishing = getattr(consumer, "__dict__", {}).get("configsvc_finishing")
    held = len(state.active_requests) + len(state.reserved_requests)
    return held + (finishing.count() if finishing is not None else 0)
