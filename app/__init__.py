"""The reference application: a Flask factory on configsvc's public API, as any app adopts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(overrides: Mapping[str, Any] | None = None, *,
               environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app: resolve the configuration into ``app.config``, bind Celery, register the views.

    ``overrides`` is the highest-precedence layer (tests, embedding); ``environ`` defaults to the process
    environment. Raises :class:`configsvc.ConfigError` listing every problem found.
    """
    from app import tasks  # noqa: F401 - registers the tasks on the placeholder
    from app.extensions import celery, config

    app = Flask(__name__)
    config.init_app(app, overrides=overrides, environ=environ)
    celery.init_app(app)

    from app import views

    app.register_blueprint(views.bp)
    return app
