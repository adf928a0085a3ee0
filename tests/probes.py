"""Tasks and signal handlers a test worker imports (``APP_CELERY__IMPORTS=tests.probes``).

Each one needs the Flask app context to do its job: the signal handlers find where to write through
``current_app.config``, so a line in the probe log proves the handler ran inside the app context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Task
from celery.signals import task_failure, task_postrun, task_prerun, task_success, worker_init
from flask import Flask, current_app, g, has_request_context, request
from flask.signals import appcontext_popped, appcontext_pushed, appcontext_tearing_down

from app.extensions import celery


class PlainBase(Task):  # type: ignore[misc]
    """A custom base written with no thought of Flask, as users write them."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        _log(f"on_success {current_app.config['PROBE_NAME']}")


def _log(line: str, app: Flask | None = None) -> None:
    with open(Path((app or current_app).config["PROBE_LOG"]), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


@celery.task(name="probes.config_value", base=PlainBase)
def config_value() -> Any:
    g.touched = True
    return current_app.config["PROBE_NAME"]


@celery.task(name="probes.fresh_g")
def fresh_g() -> bool:
    """True when g is new for this task (nothing leaked from an earlier task)."""
    return not hasattr(g, "touched")


@celery.task(name="probes.fail")
def fail() -> None:
    raise ValueError("probe failure")


@celery.task(name="probes.request_info", request_context=True)
def request_info() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {"path": request.path, "method": request.method,
            "query": request.query_string.decode(), "headers": dict(request.headers)}


@task_prerun.connect
def on_prerun(sender: Any = None, **_: Any) -> None:
    if sender.name.startswith("probes."):
        _log(f"prerun {sender.name} {current_app.config['PROBE_NAME']}")


@task_success.connect
def on_success(sender: Any = None, **_: Any) -> None:
    if sender.name.startswith("probes."):
        _log(f"success {sender.name}")


@task_failure.connect
def on_failure(sender: Any = None, **_: Any) -> None:
    if sender.name.startswith("probes."):
        _log(f"failure {sender.name}")


@task_postrun.connect
def on_postrun(sender: Any = None, **_: Any) -> None:
    if sender.name.startswith("probes."):
        _log(f"postrun {sender.name}")


# A teardown as an app with a database session writes it: commit when the context ends without an
# exception, roll back otherwise. Registered on the worker's app (before its pool starts, so prefork
# children have it too).
@worker_init.connect
def on_worker_init(**_: Any) -> None:
    flask_app = celery.flask_app
    if flask_app.config.get("PROBE_LOG"):

        @flask_app.teardown_appcontext
        def commit_or_roll_back(exc: BaseException | None) -> None:
            _log("teardown commits" if exc is None else f"teardown rolls back {exc!r}", flask_app)


# Flask's app context signals: each task's context must send them as Flask's own context does. Only apps
# with a probe log record them (this module is imported by tests whose apps have none).
def _log_context(app: Flask, line: str) -> None:
    if app.config.get("PROBE_LOG"):
        _log(line, app)


@appcontext_pushed.connect
def on_context_pushed(sender: Flask, **_: Any) -> None:
    _log_context(sender, "appcontext pushed")


@appcontext_tearing_down.connect
def on_context_tearing_down(sender: Flask, exc: BaseException | None = None, **_: Any) -> None:
    _log_context(sender, f"appcontext tearing down {exc!r}")


@appcontext_popped.connect
def on_context_popped(sender: Flask, **_: Any) -> None:
    _log_context(sender, "appcontext popped")
