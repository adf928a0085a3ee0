"""The demo tasks. They import the Celery placeholder, never the Flask app."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from app.extensions import celery


@celery.task(name="app.tasks.sleep_then_now")
def sleep_then_now(seconds: float = 5) -> str:
    """Sleep, then return the current time as an ISO datetime (the seed's demo task)."""
    time.sleep(seconds)
    return datetime.now(UTC).isoformat()


@celery.task(name="app.tasks.echo")
def echo(message: Any) -> Any:
    """Return the message unchanged."""
    return message
