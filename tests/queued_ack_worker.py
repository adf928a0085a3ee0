"""The reference app's worker with one more task, whose acknowledgement waits in the event loop.

With an event loop (solo, prefork, threads) Celery marks a request acknowledged when it *queues* the
acknowledgement (``hub.call_soon``) and the frame is written on a later turn of the loop. This task's
``Request`` (Celery's public per-task hook) does the same, and leaves the acknowledgement queued for
``QUEUED_ACK_SECONDS`` on the loop's timer: the moment Celery's own leaves open, made long enough for a
test to change the configuration inside it. ``celery -A tests.queued_ack_worker.celery worker``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_ready
from celery.worker.request import Request

from worker_entry import celery

logger = logging.getLogger(__name__)
#: The worker's event loop (kombu's current-loop global is cleared whenever the loop is reset).
loop: Any = None


@worker_ready.connect
def _keep_the_loop(sender: Any = None, **_: Any) -> None:
    global loop
    loop = sender.hub


class QueuedAcknowledgement(Request):  # type: ignore[misc]
    def acknowledge(self) -> None:
        if self.acknowledged:
            return
        seconds = float(os.environ.get("QUEUED_ACK_SECONDS", "2"))
        loop.call_later(seconds, self.on_ack, logger, self.connection_errors)
        self.acknowledged = True


@celery.task(name="tests.acknowledgement_queued", Request=QueuedAcknowledgement)
def acknowledgement_queued(message: Any) -> Any:
    return message
