"""The task messages a worker took on its current connection and has not settled on the wire: what a
switch to new broker settings waits for before it closes that connection.

A message is settled once its acknowledgement or rejection has been written to the connection: kombu's
``Message.acknowledged`` (its state is set after the frame is sent). Celery's own ``Request.acknowledged``
says less: with an event loop (solo, prefork, threads) Celery *queues* the acknowledgement
(``Consumer.call_soon_ack`` → ``hub.call_soon``) and marks the request acknowledged at once; the frame is
written on a later turn of the loop. Closing the connection in between loses it, and the broker delivers
the task again. Celery's ``task_received`` signal and the request attributes used here (``message``,
``time_start``, ``acknowledged``) are public. Checked against Celery 5.7.0 and kombu 5.7.0.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger("configsvc.celery")

# A request Celery marked acknowledged whose acknowledgement is still not on the wire this long after is
# no longer waited for (one warning): a switch must not hang on a request class that never acknowledges.
SETTLE_GRACE_SECONDS = 10.0


class Deliveries:
    """The task messages a worker's consumer received on its current connection (Celery's
    ``task_received`` signal) that are not settled yet.

    Messages are held until settled (a handful: what the worker has taken and not finished); their
    requests weakly. A finished request is often gone (nothing holds it) while its acknowledgement still
    waits in the loop, which holds the message only.
    """

    def __init__(self, consumer: CeleryConsumer) -> None:
        from celery import signals

        self._open: dict[int, tuple[Any, weakref.ref[Any]]] = {}
        self._queued_since: dict[int, float] = {}
        signals.task_received.connect(self._receive, sender=consumer, weak=False)

    def _receive(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        message = getattr(request, "message", None)
        if message is None:
            return
        self._forget_settled()
        self._open[id(message)] = (message, weakref.ref(request))

    def connected(self) -> None:
        """A new connection: what was received on the one before is settled, or can no longer be (its
        channel is gone) and the broker delivers it again."""
        self._open.clear()
        self._queued_since.clear()

    def unsettled(self) -> int:
        """The deliveries of this connection that run, will run or ran, and whose acknowledgement or
        rejection is not on the wire yet. One that never started (an ETA or rate-limited task still
        waiting) is not counted: closing the connection gives it back to the broker, not yet run."""
        from celery.worker import state

        self._forget_settled()
        now, count = time.monotonic(), 0
        for key, (_, reference) in list(self._open.items()):
            request = reference()
            if request is not None and not request.acknowledged:
                running = request.time_start or request in state.active_requests \
                    or request in state.reserved_requests
                count += bool(running)
                continue
            # Finished (the request is gone, or Celery queued its acknowledgement): the frame is to come.
            since = self._queued_since.setdefault(key, now)
            if now - since >= SETTLE_GRACE_SECONDS:
                del self._open[key]
                logger.warning("configsvc: the acknowledgement of a task that finished %.0f s ago is still "
                               "not sent; the switch no longer waits for it", now - since)
                continue
            count += 1
        return count

    def _forget_settled(self) -> None:
        for key, (message, _) in list(self._open.items()):
            if message.acknowledged:
                del self._open[key]
                self._queued_since.pop(key, None)
