"""``configsvc check --connect`` against the real RabbitMQ and Redis: one line per connection, the
server's reason for a refusal, exit 1 on any failure, and never a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.processes import free_port
from tests.support.reference import run_cli

pytestmark = pytest.mark.brokers

SECRET_KEY = "check-connect-test-secret-key-0123456789"


def check_connect(tmp_path: Path, broker: str, backend: str, credentials: str = "") -> tuple[int, str]:
    path = tmp_path / "api-config.yaml"
    path.write_text(f"secret_key: {SECRET_KEY}\ncelery:\n  broker_url: {broker}\n"
                    f"  result_backend: {backend}\n" + credentials)
    done = run_cli("check", "--connect", env={"FLASK_CONFIG": str(path), "APP_ENV": "production"})
    return done.returncode, done.stdout + done.stderr


def test_good_credentials_connect(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost), redis_account() as (redis_user, redis_password):
        status, out = check_connect(tmp_path, f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                                    f"redis://{redis_user}:{redis_password}@127.0.0.1:6379/3")
    assert status == 0, out
    assert f"ok: celery.broker_url amqp://{user}:***@127.0.0.1:5672/{vhost}: connected" in out
    assert f"ok: celery.result_backend redis://{redis_user}:***@127.0.0.1:6379/3: connected" in out
    assert password not in out and redis_password not in out


def test_a_user_that_does_not_exist_and_a_wrong_password_are_refused(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost), redis_account() as (redis_user, redis_password):
        status, out = check_connect(tmp_path, f"amqp://no-such-user:{password}@127.0.0.1:5672/{vhost}",
                                    f"redis://{redis_user}:wrong-{redis_password}@127.0.0.1:6379/3")
        assert status == 1, out
        assert ("error: celery.broker_url amqp://no-such-user:***@127.0.0.1:5672/"
                f"{vhost}: the broker refused the credentials (ACCESS_REFUSED)") in out
        assert (f"error: celery.result_backend redis://{redis_user}:***@127.0.0.1:6379/3: the result backend "
                "refused the credentials (WRONGPASS)") in out
        status, out_wrong = check_connect(tmp_path, f"amqp://{user}:wrong-{password}@127.0.0.1:5672/{vhost}",
                                          "redis://127.0.0.1:6379/3")
        assert status == 1 and "the broker refused the credentials (ACCESS_REFUSED)" in out_wrong, out_wrong
    for text in (out, out_wrong):
        assert password not in text and redis_password not in text and "Traceback" not in text
        assert len([line for line in text.splitlines() if line.startswith("error:")]) >= 1


def test_a_port_nothing_listens_on_is_named(tmp_path: Path) -> None:
    port = free_port()
    status, out = check_connect(tmp_path, f"amqp://guest:guest@127.0.0.1:{port}//",
                                f"redis://:planted-secret@127.0.0.1:{port}/3")
    assert status == 1, out
    assert f"error: celery.broker_url amqp://guest:***@127.0.0.1:{port}//: cannot be reached (connection " \
           "refused)" in out
    assert f"error: celery.result_backend redis://:***@127.0.0.1:{port}/3: cannot be reached (connection " \
           "refused)" in out
    assert "planted-secret" not in out and "Traceback" not in out


PROGRAM = """#!/bin/sh
echo '{{"username": "{user}", "password": "{password}", "expires_in": 600}}'
"""


def test_a_providers_credential_is_the_one_tried(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost):
        program = tmp_path / "issue"
        credentials = f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n"
        broker = f"amqp://127.0.0.1:5672/{vhost}"
        program.write_text(PROGRAM.format(user=user, password=password))
        program.chmod(0o700)
        status, out = check_connect(tmp_path, broker, "redis://127.0.0.1:6379/3", credentials)
        assert status == 0, out
        assert f"ok: celery.broker_url amqp://{user}:***@127.0.0.1:5672/{vhost}: connected" in out
        program.write_text(PROGRAM.format(user=user, password="not-" + password))
        status, refused = check_connect(tmp_path, broker, "redis://127.0.0.1:6379/3", credentials)
        assert status == 1, refused
        assert f"error: celery.broker_url amqp://{user}:***@127.0.0.1:5672/{vhost}: the broker refused the " \
               "credentials (ACCESS_REFUSED)" in refused
    assert password not in out + refused and "Traceback" not in out + refused
