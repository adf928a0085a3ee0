"""An app written with Flask's documented Celery pattern before it adopted configsvc: Celery configured in
``app.config["CELERY"]`` (``from_object``) and in ``celery.conf.update(...)`` before ``init_app``, as the
demos configsvc's users come from do. Where the broker is, comes from ``LEGACY_TEST_BROKER`` (the tests'
own switch, read here only so one module can serve every test)."""

from __future__ import annotations

import os

from flask import Flask

from configsvc.celery import FlaskCelery
from configsvc.flask import ConfigService

config = ConfigService(env_prefix="LEGACY_", file_variable="LEGACY_CONFIG", default_file=None)
celery = FlaskCelery("legacy")
celery.conf.update(task_default_queue="legacy-tasks", worker_send_task_events=False)


class Config:
    SECRET_KEY = "legacy-secret-key"
    CELERY = {
        "broker_url": os.environ.get("LEGACY_TEST_BROKER", "memory://"),
        "result_backend": "cache+memory://",
        "task_ignore_result": True,
    }


@celery.task(name="legacy.ping")
def ping() -> str:
    return "pong"


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    config.init_app(app)
    celery.init_app(app)
    return app
