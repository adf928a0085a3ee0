"""App and request context in a real worker process: tasks, custom bases, signal handlers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from celery.app.trace import build_tracer
from flask import Flask, current_app, has_app_context
from flask.ctx import AppContext

from app import create_app
from configsvc.celery import FlaskCelery
from configsvc.celery.app_context import LeanTaskAppContext, TaskAppContext, task_context_class
from configsvc.flask.flask_internals import current_app_context
from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.processes import celery_worker
from tests.support.reference import PROJECT, probe_config


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_tasks_custom_bases_and_signal_handlers_run_in_the_app_context(tmp_path: Path, pool: str) -> None:
    path = probe_config(tmp_path)
    env = {"FLASK_CONFIG": str(path), "PYTHONPATH": str(PROJECT)}
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log",
                       pool=(f"--pool={pool}", "--concurrency=1")):
        create_app(environ={"FLASK_CONFIG": str(path)})
        from tests.probes import config_value, fail, fresh_g

        assert config_value.delay().get(timeout=30) == f"probe-{tmp_path.name}"
        assert fresh_g.delay().get(timeout=30) is True  # g from the previous task did not leak
        with pytest.raises(ValueError, match="probe failure"):
            fail.delay().get(timeout=30)
    lines = (tmp_path / "probe.log").read_text().splitlines()
    name = f"probe-{tmp_path.name}"
    # Each task's own app context sends Flask's context signals around all of it, as Flask's does.
    # Teardown gets the task's exception (Celery's tracer catches it): a teardown that commits only
    # when it is None never commits a failed task's work (hardening round 3: it got None).
    pushed, popped = "appcontext pushed", ["appcontext tearing down None", "appcontext popped"]
    failed = ["appcontext tearing down ValueError('probe failure')", "appcontext popped"]
    assert lines == [
        pushed, f"prerun probes.config_value {name}", f"on_success {name}", "success probes.config_value",
        "postrun probes.config_value", "teardown commits", *popped,
        pushed, f"prerun probes.fresh_g {name}", "success probes.fresh_g", "postrun probes.fresh_g",
        "teardown commits", *popped,
        pushed, f"prerun probes.fail {name}", "failure probes.fail", "postrun probes.fail",
        "teardown rolls back ValueError('probe failure')", *failed,
    ]


class RecordingFlask(Flask):
    """An app class with a teardown of its own, as some apps have."""

    events: list[str]

    def do_teardown_appcontext(self, exc: BaseException | None = None) -> None:  # type: ignore[override]
        self.events.append(f"app class teardown {exc!r}")
        super().do_teardown_appcontext(exc)


def traced_task(flask_app: Flask, body: Any, *, eager: bool = False,
                context_class: type[TaskAppContext] | None = None) -> Any:
    """A task of a fresh placeholder bound to ``flask_app``, traced as the worker traces it (Celery's own
    tracer set as ``task.__trace__``); returns the traced call."""
    name = f"recording-{uuid.uuid4().hex[:6]}"
    celery = FlaskCelery(name)
    flask_app.config["CELERY"] = {"broker_url": "memory://", "result_backend": "cache+memory://"}
    task = celery.task(name=f"{name}.task", app_context_class=context_class)(body)
    celery.init_app(flask_app)
    task = celery.tasks[task.name]
    task.__trace__ = build_tracer(task.name, task, app=celery, eager=eager, propagate=eager)
    return lambda: task.__trace__(uuid.uuid4().hex, (), {}, {"delivery_info": {}})


# Where the installed Flask pushes and pops as 3.1 does, the lean context; elsewhere (Flask 3.2) Flask's
# own push and pop, which these tests run too.
CONTEXTS = pytest.mark.parametrize("context_class", [LeanTaskAppContext, TaskAppContext],
                                   ids=["lean", "flask-own"])


@CONTEXTS
@pytest.mark.parametrize("app_class", [Flask, RecordingFlask])
def test_each_traced_task_gets_its_own_context_torn_down_as_flasks(
        app_class: type[Flask], context_class: type[TaskAppContext]) -> None:
    events: list[str] = []
    flask_app = app_class("recording")
    flask_app.events = events  # type: ignore[attr-defined]

    def body() -> str:
        events.append(f"task in {current_app.name}")
        return "done"

    run = traced_task(flask_app, body, context_class=context_class)
    run()  # no teardown function: nothing to tear down
    flask_app.teardown_appcontext(lambda exc: events.append(f"teardown {exc!r}"))
    run()
    assert not has_app_context()
    own = ["app class teardown None"] if app_class is RecordingFlask else []
    assert events == ["task in recording", *own, "task in recording", *own, "teardown None"]


@CONTEXTS
def test_an_exception_leaving_the_tracer_reaches_teardown_and_the_context_is_popped(
        context_class: type[TaskAppContext]) -> None:
    events: list[str] = []
    flask_app = Flask("recording")
    flask_app.teardown_appcontext(lambda exc: events.append(f"teardown {exc!r}"))

    def body() -> None:
        raise KeyError("escaped")

    run = traced_task(flask_app, body, eager=True, context_class=context_class)  # the tracer re-raises
    with pytest.raises(KeyError, match="escaped"):
        run()
    assert events == ["teardown KeyError('escaped')"]
    assert not has_app_context()


def test_a_flask_that_pushes_differently_gets_its_own_push_and_pop() -> None:
    class ChangedAppContext(AppContext):  # as Flask 3.2's: push refers to other names
        def push(self) -> None:
            self.merged_request_context = True
            super().push()

    assert task_context_class() is LeanTaskAppContext  # the installed Flask (3.1)
    assert task_context_class(ChangedAppContext) is TaskAppContext
    flask_app = Flask("recording")
    events: list[str] = []
    flask_app.teardown_appcontext(lambda exc: events.append(f"teardown {exc!r}"))

    def body() -> None:
        events.append(type(current_app_context(None)).__name__)

    run = traced_task(flask_app, body, context_class=task_context_class(ChangedAppContext))
    run()
    assert events == ["TaskAppContext", "teardown None"]


def test_request_context_task_in_a_worker(tmp_path: Path) -> None:
    path = probe_config(tmp_path)
    with celery_worker({"FLASK_CONFIG": str(path), "PYTHONPATH": str(PROJECT)}, cwd=Path("/"),
                       log=tmp_path / "worker.log"):
        flask_app = create_app(environ={"FLASK_CONFIG": str(path)})
        from tests.probes import request_info

        with flask_app.test_request_context(
                "/reports/7", method="POST", query_string="lang=de&x=1",
                headers={"Authorization": "Bearer sentinel-auth", "Cookie": "session=sentinel-cookie",
                         "Accept-Language": "de", "X-Request-Id": "req-42", "X-Internal": "no"}):
            result = request_info.delay()
        info = result.get(timeout=30)
    assert info["path"] == "/reports/7"
    assert info["method"] == "POST"
    assert info["query"] == "lang=de&x=1"
    assert info["headers"]["Accept-Language"] == "de"
    assert info["headers"]["X-Request-Id"] == "req-42"
    for absent in ("Authorization", "Cookie", "X-Internal"):
        assert absent not in info["headers"]
    assert request_info.apply().get() == {}  # outside a request: no request context invented


@pytest.mark.brokers
def test_authorization_and_cookie_never_enter_the_broker_message(tmp_path: Path) -> None:
    """Publish with no worker running, then read the raw message from RabbitMQ."""
    from kombu import Connection

    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        flask_app = create_app({"celery": {
            "broker_url": broker, "result_backend": f"redis://{r_user}:{r_password}@127.0.0.1:6379/13",
            "imports": ["tests.probes"]}}, environ={"APP_ENV": "testing"})
        from tests.probes import request_info

        with flask_app.test_request_context(
                "/x", headers={"Authorization": "Bearer sentinel-auth", "Cookie": "s=sentinel-cookie",
                               "User-Agent": "probe-agent"}):
            request_info.apply_async(queue="probe-raw")
        with Connection(broker) as connection:
            queue = connection.SimpleQueue("probe-raw")
            message = queue.get(timeout=10)
            raw = repr(message.headers) + repr(message.body) + repr(message.properties)
            message.ack()
            queue.close()
    assert "probe-agent" in raw  # the allowlisted header is there ...
    assert "sentinel-auth" not in raw and "sentinel-cookie" not in raw  # ... the credentials are not
    assert "Authorization" not in raw and "Cookie" not in raw
