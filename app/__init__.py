"""The reference application: a Flask factory on configsvc's public API, as any app adopts it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

# Web processes log configsvc's INFO lines (a reload, a switch) as the worker does; WARNING and above are
# what alert rules watch.
LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"  # as Celery's worker logs


def create_app(overrides: Mapping[str, Any] | None = None, *,
               environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app: resolve the configuration into ``app.config``, bind Celery, register the views.

    ``overrides`` is the highest-precedence layer (tests, embedding); ``environ`` defaults to the process
    environment. Raises :class:`configsvc.ConfigError` listing every problem found.
    """
    from app import tasks  # noqa: F401 - registers the tasks on the placeholder
    from app.extensions import celery, config

    if not logging.getLogger().handlers:  # a deployment's own logging setup wins; Celery replaces this
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    app = Flask(__name__)
    config.init_app(app, overrides=overrides, environ=environ)
    celery.init_app(app)

    from app import views

    app.register_blueprint(views.bp)
    return app
