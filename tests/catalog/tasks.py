"""The catalog's task: reads its settings, the app's config and Celery's, waits, and reads them again."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app

from tests.catalog.extensions import celery, config


def _read() -> list[Any]:
    return [config.settings.feature.limit, current_app.config["FEATURE"]["limit"],
            config.settings.feature.label]


@celery.task(name="catalog.read_twice")
def read_twice(marker: str, seconds: float) -> dict[str, Any]:
    """Both reads, ``seconds`` apart; ``marker`` (a file) is created after the first."""
    first = _read()
    with open(marker, "w"):
        pass
    time.sleep(seconds)
    return {"first": first, "second": _read()}
