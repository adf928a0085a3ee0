"""An app that is not the reference app adopts configsvc through its public API only.

``tests/inventory`` is a seed-shaped Flask + Celery app with its own prefix (``INVENTORY_``), deployment
file variable (``INVENTORY_CONFIG``), defaults file and schema. It is run for real: resolution, its CLI,
a real worker, a live rotation.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from configsvc import ConfigError, ConfigUsageError, Options, ValidationError
from configsvc.flask import ConfigService
from configsvc.testing import WorkerProcess
from tests.inventory import create_app
from tests.inventory.extensions import config as inventory
from tests.inventory.tasks import capacity, echo
from tests.support.brokers import delete_rabbitmq_user, rabbitmq_user, rabbitmq_vhost
from tests.support.processes import VENV_BIN, wait_for
from tests.support.reference import run_cli

INVENTORY_ROOT = Path(__file__).parent / "inventory"
WorkerStarter = Callable[..., AbstractContextManager[WorkerProcess]]


@pytest.mark.parametrize(("environ", "capacity_value", "source"), [
    ({}, 100, "defaults"),
    ({"INVENTORY_ENV": "production", "INVENTORY_SECRET_KEY": "k" * 32,
      "INVENTORY_CELERY__BROKER_URL": "redis://r/0"}, 1000, "defaults[production]"),
    ({"INVENTORY_WAREHOUSE__CAPACITY": "12"}, 12, "environment"),
    ({"APP_WAREHOUSE__CAPACITY": "7", "APP_ENV": "production"}, 100, "defaults"),  # not its prefix
])
def test_its_prefix_and_defaults_file(environ: dict[str, str], capacity_value: int, source: str) -> None:
    config = inventory.resolve(environ, root_path=INVENTORY_ROOT)
    assert config["warehouse.capacity"] == capacity_value
    assert config.explain("warehouse.capacity").winner == source
    assert config["celery.task_acks_late"] is True  # configsvc's own defaults, below its file


def test_its_deployment_file_variable_and_default_file(tmp_path: Path, deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file({"warehouse": {"capacity": 55}}, name="elsewhere.json")
    assert inventory.resolve({"INVENTORY_CONFIG": str(path)}, root_path=INVENTORY_ROOT)[
        "warehouse.capacity"] == 55
    assert inventory.resolve({"FLASK_CONFIG": str(path)}, root_path=INVENTORY_ROOT)[
        "warehouse.capacity"] == 100  # FLASK_CONFIG is not its variable
    deployment_file("warehouse: {capacity: 66}\n", name="inventory.yaml")
    assert inventory.resolve({}, root_path=INVENTORY_ROOT, cwd=tmp_path)["warehouse.capacity"] == 66


@pytest.mark.parametrize(("variable", "text", "message"), [
    ("INVENTORY_WAREHOUSE__CAPACITY", "lots", "warehouse.capacity: expected an integer"),
    ("INVENTORY_WAREHOUSE__OPEN", "perhaps", "warehouse.open: expected true or false"),
    ("INVENTORY_REPORT_HOUR", "24", "report_hour: expected an integer from 0 to 23"),
])
def test_its_schema_types_values(variable: str, text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=rf"environment variable {variable}: {message}"):
        inventory.resolve({variable: text}, root_path=INVENTORY_ROOT)
    config = inventory.resolve({"INVENTORY_SUPPLIERS": "acme,globex", "INVENTORY_WAREHOUSE__OPEN": "no"},
                               root_path=INVENTORY_ROOT)
    assert config["suppliers"] == ["acme", "globex"] and config["warehouse.open"] is False


def test_near_misses_of_its_own_keys(tmp_path: Path) -> None:
    with pytest.warns(Warning, match="warehouse.capacty is not a known setting; did you mean "
                                     "warehouse.capacity"):
        inventory.resolve({"INVENTORY_WAREHOUSE__CAPACTY": "5"}, root_path=INVENTORY_ROOT)
    with pytest.raises(ValidationError, match=r"INVENTORY_WAREHOUSE__CAPACTY: warehouse\.capacty: not a "
                                              r"known setting; did you mean warehouse\.capacity"):
        inventory.resolve({"INVENTORY_WAREHOUSE__CAPACTY": "5", "INVENTORY_ENV": "production",
                           "INVENTORY_SECRET_KEY": "k" * 32, "INVENTORY_CELERY__BROKER_URL": "redis://r/0"},
                          root_path=INVENTORY_ROOT)


@pytest.mark.parametrize(("options", "message"), [
    ({"schema": {"port": complex}}, "not a schema type"),
    ({"schema": {"bad key": int}}, "must be a dotted key"),
    ({"schema": {"debug": str}}, "already typed bool"),
    ({"env_prefix": ""}, "env_prefix"),
    ({"example_files": "one/file.yaml"}, "a list of paths"),
])
def test_options_that_cannot_work_are_a_usage_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigUsageError, match=message):
        ConfigService(**options).resolve({})  # type: ignore[arg-type]


def test_a_defaults_file_that_is_named_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yaml: the file does not exist"):
        ConfigService(defaults="missing.yaml").resolve({}, root_path=tmp_path)
    assert ConfigService().resolve({}, root_path=tmp_path)["celery.task_acks_late"] is True
    assert Options().defaults == "defaults.yaml"


def test_the_app_binds_and_serves(tmp_path: Path) -> None:
    flask_app = create_app(environ={"INVENTORY_WAREHOUSE__CAPACITY": "42"})
    assert flask_app.test_client().get("/stock").json == {"capacity": 42}
    assert inventory.state(flask_app).config["warehouse.capacity"] == 42
    with flask_app.app_context():
        assert capacity.apply().get() == 42  # in the app context


def test_its_cli_through_flask_and_configsvc(tmp_path: Path) -> None:
    env = {"INVENTORY_WAREHOUSE__CAPACITY": "31", "COLUMNS": "400"}  # the table on one line per key
    flask = subprocess.run([str(VENV_BIN / "flask"), "--app", "tests.inventory", "configsvc", "show"],
                           cwd=tmp_path, env={**_clean(), **env}, capture_output=True, text=True, timeout=60)
    assert flask.returncode == 0, flask.stderr
    assert any(line.split()[:3] == ["warehouse.capacity", "31", "environment"]
               for line in flask.stdout.splitlines())
    done = run_cli("--app", "tests.inventory", "check", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    via_variable = run_cli("explain", "warehouse.capacity", env={**env, "FLASK_APP": "tests.inventory"},
                           cwd=tmp_path)
    assert via_variable.stdout.splitlines()[-1] == "= 31  (from environment)"


@pytest.mark.parametrize("command", [["flask", "--app", "tests.inventory", "configsvc", "check"],
                                     ["configsvc", "--app", "tests.inventory:create_app()", "check"]])
def test_its_cli_reports_a_bad_configuration_without_traceback(tmp_path: Path, command: list[str]) -> None:
    done = subprocess.run([str(VENV_BIN / command[0]), *command[1:]], cwd=tmp_path,
                          env={**_clean(), "INVENTORY_REPORT_HOUR": "noon"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: environment variable INVENTORY_REPORT_HOUR: report_hour: expected an integer, got text that "
        "is not a whole number [source: environment]")


def test_the_cli_without_an_app_says_it_uses_the_default_options(tmp_path: Path) -> None:
    done = run_cli("check", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # not on every command: --verbose says it
    done = run_cli("--verbose", "check", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("note: no app found (--app, FLASK_APP, wsgi.py, app.py or an app package in the "
                           "working directory); resolving with configsvc's default options\n")
    done = run_cli("--app", "no_such_module_here", "check", cwd=tmp_path)
    assert done.returncode == 1 and "the app cannot be loaded" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_real_worker_runs_its_task_in_the_app_context(tmp_path: Path, deployment_file,  # type: ignore[no-untyped-def]
                                                        celery_worker_process: WorkerStarter) -> None:
    queue = tmp_path / "queue"
    path = deployment_file({"warehouse": {"capacity": 77}, "celery": {
        "broker_url": "filesystem://", "result_backend": f"file://{tmp_path / 'results'}",
        "broker_transport_options": {"data_folder_in": str(queue), "data_folder_out": str(queue)}}})
    env = {"INVENTORY_CONFIG": str(path)}
    with celery_worker_process("tests.inventory.worker.celery", env, cwd=Path("/")):
        create_app(environ=env)
        assert capacity.delay().get(timeout=30) == 77


@pytest.mark.brokers
def test_a_live_rotation_between_two_rabbitmq_users(tmp_path: Path, deployment_file,  # type: ignore[no-untyped-def]
                                                    celery_worker_process: WorkerStarter) -> None:
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (first, first_pw), \
            rabbitmq_user(vhost) as (second, second_pw):

        def settings(user: str, password: str) -> dict[str, object]:
            return {"config_reload_interval": 0.05, "celery": {
                "broker_url": f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                "result_backend": f"file://{tmp_path / 'results'}"}}

        path = deployment_file(settings(first, first_pw))
        env = {"INVENTORY_CONFIG": str(path)}
        with celery_worker_process("tests.inventory.worker.celery", env, cwd=Path("/"),
                                   args=("--pool=prefork", "--concurrency=2")) as worker:
            flask_app = create_app(environ=env)
            before = [echo.delay(n) for n in range(20)]
            replacement = deployment_file(settings(second, second_pw), name="next.yaml")
            os.replace(replacement, path)
            wait_for(lambda: f"connected to the broker at amqp://{second}:**@" in worker.log(), 15,
                     "the worker to switch to the new user")
            wait_for(lambda: inventory.state(flask_app).generation == 1, 5, "the web side to switch")
            delete_rabbitmq_user(first)
            after = [echo.delay(n) for n in range(20, 40)]
            assert [result.get(timeout=30) for result in before + after] == list(range(40))
            assert second in flask_app.config["CELERY"]["broker_url"]


def _clean() -> dict[str, str]:
    from configsvc.options import clean_environ

    return clean_environ(os.environ, inventory.options)
