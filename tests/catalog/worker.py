"""``celery -A tests.catalog.worker.celery worker``."""

from __future__ import annotations

from tests.catalog import create_app
from tests.catalog.extensions import celery

create_app()

__all__ = ["celery"]
