"""The baseline: a Flask app with Celery wired as Flask's "Background Tasks with Celery" guide shows.

``celery_init_app`` with a ``FlaskTask`` whose ``__call__`` pushes the app context; configuration from
``app.config["CELERY"]`` (here from ``BASELINE_BROKER`` / ``BASELINE_BACKEND``), and exactly the Celery
settings configsvc ships (its ``defaults.yaml``: delivery, serializers, bounded timeouts), so the
benchmarks compare the integration and not the settings.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from celery import Celery, Task
from flask import Flask, jsonify, request, url_for

from benchmarks.shipped import shipped_celery_settings


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(CELERY={
        **shipped_celery_settings(),
        "broker_url": os.environ.get("BASELINE_BROKER", "memory://"),
        "result_backend": os.environ.get("BASELINE_BACKEND", "cache+memory://"),
        "task_default_queue": "baseline",
    })
    celery_init_app(app)

    @app.post("/task/")
    def submit() -> Any:
        body = request.get_json(silent=True) or {}
        result = sleep_then_now.delay(body.get("seconds", 5))
        return jsonify(task_id=result.id, state="PENDING"), 202, {
            "Location": url_for("status", task_id=result.id)}

    @app.get("/task/<task_id>")
    def status(task_id: str) -> Any:
        result = celery_app.AsyncResult(task_id)
        return jsonify(task_id=task_id, state=result.state)

    return app


flask_app = create_app()
celery_app: Celery = flask_app.extensions["celery"]


@celery_app.task(name="baseline.noop")
def noop(message: Any = None) -> Any:
    return message


@celery_app.task(name="baseline.sleep_then_now")
def sleep_then_now(seconds: float = 5) -> str:
    time.sleep(seconds)
    return datetime.now(UTC).isoformat()
