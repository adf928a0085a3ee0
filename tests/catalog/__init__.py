"""A foreign app whose configuration is a pydantic model (``ConfigService(settings=Settings)``): typed
keys from every layer, a validator, a secret field, and a task that reads its settings twice."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from flask import Flask, current_app, jsonify

#: Set by a test to hold the ``/twice`` view between its two reads (a reload happens meanwhile).
between_reads = threading.Event()
reads_done = threading.Event()


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    from tests.catalog import tasks  # noqa: F401 - registers the tasks
    from tests.catalog.extensions import celery, config

    app = Flask(__name__)
    config.init_app(app, environ=environ)
    celery.init_app(app)

    @app.get("/limit")
    def limit() -> object:
        return jsonify(limit=config.settings.feature.limit)

    @app.get("/feature")
    def feature() -> object:
        """A page that fails while ``feature.label`` is ``broken`` (what a staged rollout catches)."""
        if config.settings.feature.label == "broken":
            raise RuntimeError("the feature is broken")
        return jsonify(limit=config.settings.feature.limit, label=config.settings.feature.label)

    @app.get("/twice")
    def twice() -> object:
        first = (config.settings.feature.limit, current_app.config["FEATURE"]["limit"])
        reads_done.set()
        between_reads.wait(10)
        second = (config.settings.feature.limit, current_app.config["FEATURE"]["limit"])
        return jsonify(first=first, second=second)

    return app
