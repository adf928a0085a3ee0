"""The reference app's worker with one more task, which publishes from the pool process.

A prefork pool process opens a broker connection of its own only when a task publishes; with a provider
whose credentials belong to one process (Vault), that is when the pool process fetches its own.
``celery -A tests.relaying_worker.celery worker``.
"""

from __future__ import annotations

from app.tasks import echo
from worker_entry import celery


@celery.task(name="tests.relay")
def relay(message: str) -> str:
    """Publish ``echo(message)`` from this pool process."""
    echo.delay(message)
    return message
