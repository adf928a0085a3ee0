"""The reference app's worker with one more task, whose acknowledgement comes late: its ``Request`` (a
task's request class, Celery's public API for it) waits ``SLOW_ACK_SECONDS`` before acknowledging, as
a pool thread that is descheduled between Celery marking the task done and acknowledging its message.
``celery -A tests.slow_ack_worker.celery worker``."""

from __future__ import annotations

import os
import time
from typing import Any

from celery.worker.request import Request

from worker_entry import celery


class LateAcknowledgement(Request):  # type: ignore[misc]
    def acknowledge(self) -> None:
        time.sleep(float(os.environ.get("SLOW_ACK_SECONDS", "2")))
        super().acknowledge()


@celery.task(name="tests.acknowledged_late", Request=LateAcknowledgement)
def acknowledged_late(message: Any) -> Any:
    return message
