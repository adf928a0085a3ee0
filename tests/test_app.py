"""The binding: create_app() resolves once, fills app.config, and binds the Celery placeholder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask, current_app

from app import create_app
from app.extensions import celery
from configsvc import AlreadyRegistered, CeleryNotConfigured, ConfigError, Secret
from configsvc.celery import FlaskCelery
from configsvc.flask import ConfigState

# Flask's rule for a package that is not installed: ``instance/`` beside the package's folder.
INSTANCE = Path(__file__).resolve().parents[1] / "instance"


def test_config_lands_in_app_config(app: Flask, tmp_path: Path) -> None:
    assert app.config["TESTING"] is True
    assert app.config["SECRET_KEY"] == "testing-only-not-secret"
    assert app.config["CELERY"]["broker_url"] == "filesystem://"
    assert app.config["CELERY"]["task_acks_late"] is True
    state = app.extensions["configsvc"]
    assert isinstance(state, ConfigState)
    assert state.config.env == "testing" and state.state == "ok" and state.generation == 0
    assert app.extensions["celery"] is celery
    assert celery.conf.broker_url == "filesystem://"
    assert celery.conf.result_backend == f"file://{tmp_path}/results"
    assert celery.conf.worker_prefetch_multiplier == 1


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "broker": "ok", "config": "ok", "fingerprint": "none"}


def test_healthz_with_the_broker_down() -> None:
    flask_app = create_app({"celery": {"broker_url": "amqp://nobody:x@127.0.0.1:9//"}},
                           environ={"APP_ENV": "testing"})
    response = flask_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "broker": "unreachable", "config": "ok",
                             "fingerprint": "none"}
    assert b"nobody:x" not in response.data


def test_secrets_reach_flask_in_clear_and_stay_wrapped_in_the_config(tmp_path: Path) -> None:
    flask_app = create_app(environ={"APP_SECRET_KEY": "s3", "APP_CELERY__BROKER_URL": "amqp://u:p@h//"})
    assert flask_app.config["SECRET_KEY"] == "s3"
    assert flask_app.config["CELERY"]["broker_url"] == "amqp://u:p@h//"
    config = flask_app.extensions["configsvc"].config
    assert isinstance(config["secret_key"], Secret)
    with flask_app.test_request_context():
        from flask import session
        session["user"] = "x"  # signing works with the real key


def test_create_app_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="APP_PORT: port: expected an integer"):
        create_app(environ={"APP_PORT": "x"})


def test_development_binds_the_embedded_broker_under_the_instance_folder() -> None:
    flask_app = create_app(environ={})
    instance = Path(flask_app.instance_path)
    assert instance == INSTANCE
    assert celery.conf.broker_url == "filesystem://"
    assert celery.conf.broker_transport_options["data_folder_in"] == str(instance / "celery" / "queue")
    assert celery.conf.result_backend == f"file://{instance / 'celery' / 'results'}"
    assert (instance / "celery" / "queue").is_dir()


def test_placeholder_refuses_use_before_create_app() -> None:
    unbound = FlaskCelery("unbound")

    @unbound.task(name="unbound.ping")
    def ping() -> str:
        return "pong"

    assert not unbound.is_bound
    with pytest.raises(CeleryNotConfigured, match=r"used before init_app\(app\) bound a configuration"):
        ping.delay()
    with pytest.raises(CeleryNotConfigured):
        unbound.connection_for_write()
    with pytest.raises(CeleryNotConfigured):
        unbound.AsyncResult("some-id").state  # noqa: B018 - needs the result backend


def test_a_second_create_app_rebinds_everything(tmp_path: Path) -> None:
    first = create_app({"celery": {"broker_url": "filesystem://", "result_backend": f"file://{tmp_path}/a",
                                   "task_default_queue": "only-in-first"}},
                       environ={"APP_ENV": "testing"})
    backend_a = celery.backend
    assert backend_a.path == str(tmp_path / "a").encode()
    second = create_app({"celery": {"broker_url": "memory://", "result_backend": f"file://{tmp_path}/b"}},
                        environ={"APP_ENV": "testing"})
    assert celery.conf.broker_url == "memory://"
    assert celery.conf.task_default_queue == "celery"  # the first app's setting is gone
    assert celery.backend is not backend_a
    assert celery.backend.path == str(tmp_path / "b").encode()
    assert celery.flask_app is second is not first


def test_init_app_refuses_a_second_registration(app: Flask) -> None:
    from app.extensions import config

    with pytest.raises(AlreadyRegistered, match="already registered on this Flask app"):
        celery.init_app(app)
    with pytest.raises(AlreadyRegistered, match="ConfigService is already registered"):
        config.init_app(app)


def test_tasks_run_in_the_app_context(app: Flask) -> None:
    @celery.task(name="tests.which_app")
    def which_app() -> str:
        return str(current_app.config["SECRET_KEY"])

    assert which_app.apply().get() == "testing-only-not-secret"
    with app.app_context():  # an already pushed context is reused
        assert which_app.apply().get() == "testing-only-not-secret"


def test_worker_entry_from_another_directory_resolves_the_same(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 8123\ncelery:\n  broker_url: amqp://rabbit//\n")
    code = ("import json, worker_entry as w; "
            "print(json.dumps([w.celery.conf.broker_url, w.flask_app.config['PORT'], "
            "w.flask_app.instance_path]))")
    results = []
    for cwd in (Path("/"), tmp_path):
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                              env={"FLASK_CONFIG": str(path), "PATH": "/usr/bin:/bin"}, timeout=60)
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))
    assert results[0] == results[1] == ["amqp://rabbit//", 8123, str(INSTANCE)]


def test_worker_entry_reports_a_bad_config_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import worker_entry"], cwd=tmp_path, capture_output=True,
                          text=True, env={"APP_PORT": "x", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("error: environment variable APP_PORT: port: expected an integer, got text "
                           "that is not a whole number [source: environment]\n")


def test_a_task_sees_its_own_request(app: Flask) -> None:
    @celery.task(name="tests.my_id", bind=True)
    def my_id(self) -> str:  # type: ignore[no-untyped-def]
        return str(self.request.id)

    result = my_id.apply(task_id="known-id-123")
    assert result.get() == "known-id-123"
    assert my_id() == "None"  # called as a plain function: no task request, as with Celery's own Task


@pytest.mark.brokers
def test_rebinding_to_the_same_broker_keeps_publishing(tmp_path: Path) -> None:
    from tests.support.brokers import rabbitmq_account

    with rabbitmq_account() as (user, password, vhost):
        overrides = {"celery": {"broker_url": f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                                "result_backend": f"file://{tmp_path}"}}
        from app.tasks import echo

        for _ in range(3):
            create_app(overrides, environ={"APP_ENV": "testing"})
            echo.apply_async(("x",), queue="rebind-probe")


def test_the_filesystem_broker_keeps_its_control_folder_beside_the_queue(app: Flask, tmp_path: Path) -> None:
    """kombu would write ``control/`` into the working directory; configsvc puts it beside the queue."""
    options = app.extensions["celery"].conf.broker_transport_options
    assert options["control_folder"] == str(tmp_path / "control")
    assert (tmp_path / "control").is_dir()


def test_the_session_serializer_is_built_once_per_secret_key(app: Flask) -> None:
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert first is not None and interface.get_signing_serializer(app) is first  # reused per request
    app.config["SECRET_KEY_FALLBACKS"] = ["testing-only-not-secret"]
    app.config["SECRET_KEY"] = "a-rotated-key"
    second = interface.get_signing_serializer(app)
    assert second is not first and second.secret_keys == [b"testing-only-not-secret", b"a-rotated-key"]
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"] = "x"
    assert client.get_cookie("session") is not None
    custom = Flask("custom")
    custom.session_interface = type("Mine", (type(Flask.session_interface),), {})()
    from configsvc.flask import ConfigService

    ConfigService().init_app(custom, environ={})
    assert type(custom.session_interface).__name__ == "Mine"  # an app's own choice is left alone
