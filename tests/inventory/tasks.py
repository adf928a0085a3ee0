"""The inventory app's tasks: they import the placeholder, never the app."""

from __future__ import annotations

from typing import Any

from flask import current_app

from tests.inventory.extensions import celery


@celery.task(name="inventory.capacity")
def capacity() -> Any:
    """What the worker's app context says the capacity is."""
    return current_app.config["WAREHOUSE"]["capacity"]


@celery.task(name="inventory.echo")
def echo(value: Any) -> Any:
    return value
