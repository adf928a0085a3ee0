"""The anchor: bare Celery, no Flask at all, with the same delivery settings configsvc ships.

``celery -A benchmarks.bare_celery.celery_app worker``; broker and backend from ``BASELINE_BROKER`` /
``BASELINE_BACKEND``. What configsvc's integration costs a worker is measured against this.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

celery_app = Celery("bare", broker=os.environ.get("BASELINE_BROKER", "memory://"),
                    backend=os.environ.get("BASELINE_BACKEND", "cache+memory://"))
celery_app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                       task_default_queue="bare")


@celery_app.task(name="bare.noop")
def noop(message: Any = None) -> Any:
    return message
