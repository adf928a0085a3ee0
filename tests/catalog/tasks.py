"""The catalog's task: reads its settings, the app's config and Celery's, waits, and reads them again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
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


@celery.task(name="catalog.checked", ignore_result=True)
def checked(folder: str, number: int) -> int:
    """One run of task ``number``, left as a file in ``folder`` (``<number>-<feature.limit>-<random>``); fails
    while ``feature.label`` is ``broken`` (a valid setting with a wrong value: what a staged rollout is
    there to catch)."""
    Path(folder, f"{number}-{config.settings.feature.limit}-{uuid.uuid4().hex}").touch()
    if config.settings.feature.label == "broken":
        raise RuntimeError("the feature is broken")
    return config.settings.feature.limit
