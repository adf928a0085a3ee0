"""An app that configured Celery the ways Flask's and Celery's docs show, before adopting configsvc
(``tests/legacy``): ``app.config["CELERY"]`` from an object, ``celery.conf.update(...)`` at import, and
Celery's own ``CELERY_BROKER_URL``. What ``configsvc show`` prints is what the real worker connects with,
or the start is refused with a message naming what to use instead."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from configsvc.options import clean_environ
from configsvc.testing import run_celery_worker
from tests.legacy import config as legacy
from tests.support.brokers import rabbitmq_connection_users, rabbitmq_user, rabbitmq_vhost
from tests.support.processes import VENV_BIN, wait_for
from tests.support.reference import PROJECT, run_cli

pytestmark = pytest.mark.brokers

TARGET = "tests.legacy.worker.celery"


def shown_broker(env: dict[str, str]) -> dict[str, str]:
    done = run_cli("--app", "tests.legacy:create_app", "show", "--json", env=env)
    assert done.returncode == 0, done.stderr
    entry: dict[str, str] = json.loads(done.stdout)["settings"]["celery.broker_url"]
    return entry


def connects_as(env: dict[str, str], vhost: str, tmp_path: Path) -> set[str]:
    """Start the app's real worker with ``env``; the RabbitMQ users its connections use."""
    with run_celery_worker(TARGET, {**env, "PYTHONPATH": str(PROJECT)}, tmp_path / "worker.log", cwd=PROJECT,
                           args=("--pool=solo", "--without-mingle", "--without-gossip"),
                           options=legacy.options):
        wait_for(lambda: rabbitmq_connection_users(vhost), 10, "the worker's connections")
        return set(rabbitmq_connection_users(vhost))


def test_celery_settings_in_app_config_are_a_layer_and_the_file_wins(tmp_path: Path, deployment_file) -> None:
    """Flask's Celery pattern (``CELERY={"broker_url": ...}`` in ``from_object``) used to end on the
    embedded broker with ``check`` saying ok; now it is a layer below the deployment file."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (in_code, code_pw), \
            rabbitmq_user(vhost) as (in_file, file_pw):
        env = {"LEGACY_TEST_BROKER": f"amqp://{in_code}:{code_pw}@127.0.0.1:5672/{vhost}"}
        entry = shown_broker(env)
        assert entry["source"] == "app.config before init_app"
        assert entry["value"] == f"amqp://{in_code}:***@127.0.0.1:5672/{vhost}"
        assert connects_as(env, vhost, tmp_path) == {in_code}

        path = deployment_file({"celery": {"broker_url": f"amqp://{in_file}:{file_pw}@127.0.0.1:5672/{vhost}"}})
        env["LEGACY_CONFIG"] = str(path)
        entry = shown_broker(env)
        assert entry["source"] == "deployment file" and in_file in entry["value"]
        assert connects_as(env, vhost, tmp_path) == {in_file}
        log = (tmp_path / "worker.log").read_text()
        assert code_pw not in log and file_pw not in log


@pytest.mark.parametrize("variable", ["CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"])
def test_celerys_own_variables_are_refused_with_the_one_to_use(tmp_path: Path, variable: str) -> None:
    """Celery reads these by itself and prefers them to every configured value: the worker connected as
    the variable's user while ``show`` printed the file's, and rotating the file did nothing."""
    env = {variable: "amqp://someone:sentinel-pw@127.0.0.1:5672//"}
    setting = "broker_url" if variable == "CELERY_BROKER_URL" else "result_backend"
    done = run_cli("--app", "tests.legacy:create_app", "check", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{variable}: celery.{setting}: is set, and Celery reads it itself" in done.stderr
    assert f"set LEGACY_CELERY__{setting.upper()}" in done.stderr and "sentinel-pw" not in done.stderr
    worker = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", TARGET, "worker", "--pool=solo"], cwd=PROJECT, timeout=60,
        env={**clean_environ(options=legacy.options), **env, "PYTHONPATH": str(PROJECT)},
        capture_output=True, text=True)
    assert worker.returncode != 0
    assert f"{variable}: celery.{setting}: is set" in worker.stdout + worker.stderr
    assert "sentinel-pw" not in worker.stdout + worker.stderr


def test_celery_broker_option_on_the_command_line_is_refused_too(tmp_path: Path) -> None:
    """``celery --broker`` sets CELERY_BROKER_URL for the app it loads."""
    worker = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", TARGET, "--broker", "amqp://x:sentinel-pw@127.0.0.1//", "worker"],
        cwd=PROJECT, timeout=60, capture_output=True, text=True,
        env={**clean_environ(options=legacy.options), "PYTHONPATH": str(PROJECT)})
    assert worker.returncode != 0
    assert "CELERY_BROKER_URL: celery.broker_url: is set" in worker.stdout + worker.stderr


def test_settings_set_in_code_before_init_app_are_kept_or_named(recwarn: pytest.WarningsRecorder) -> None:
    """``celery.conf.update(...)`` before ``init_app``: kept where the configuration says nothing of it,
    named in a warning where the configuration replaces it."""
    from tests.legacy import create_app

    app = create_app()
    celery = app.extensions["celery"]
    assert celery.conf.task_default_queue == "legacy-tasks"  # kept: nothing else sets it
    assert celery.conf.worker_send_task_events is False
    assert not [w for w in recwarn if "was set in code before init_app" in str(w.message)]
