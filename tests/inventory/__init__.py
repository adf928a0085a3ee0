"""A foreign app for the tests: a seed-shaped Flask + Celery app, not named ``app``, with its own prefix,
defaults file and schema, built on configsvc's public API only (as a team adopting configsvc writes it)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, jsonify


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    from tests.inventory import tasks  # noqa: F401 - registers the tasks
    from tests.inventory.extensions import celery, config

    app = Flask(__name__)
    config.init_app(app, environ=environ)
    celery.init_app(app)

    @app.get("/stock")
    def stock() -> object:
        return jsonify(capacity=app.config["WAREHOUSE"]["capacity"])

    return app
