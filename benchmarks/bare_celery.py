"""The anchor: bare Celery, no Flask at all, with exactly the Celery settings configsvc ships.

``celery -A benchmarks.bare_celery.celery_app worker``; broker and backend from ``BASELINE_BROKER`` /
``BASELINE_BACKEND``. What configsvc's integration costs a worker is measured against this.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from benchmarks.shipped import shipped_celery_settings

celery_app = Celery("bare", broker=os.environ.get("BASELINE_BROKER", "memory://"),
                    backend=os.environ.get("BASELINE_BACKEND", "cache+memory://"))
celery_app.conf.update(shipped_celery_settings(), task_default_queue="bare")


@celery_app.task(name="bare.noop")
def noop(message: Any = None) -> Any:
    return message
