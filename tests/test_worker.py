"""End to end with a real worker process, started as a user starts it, from another directory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app import create_app
from app.tasks import echo, sleep_then_now
from tests.support import redis_keys
from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.processes import celery_worker


def round_trip(config_path: Path) -> None:
    flask_app = create_app(environ={"FLASK_CONFIG": str(config_path), **redis_keys.environ()})
    health = flask_app.test_client().get("/healthz").json
    assert health == {"status": "ok", "broker": "ok", "config": "ok", "fingerprint": health["fingerprint"]}
    assert len(health["fingerprint"]) == 32
    assert echo.delay({"hello": ["world", 1]}).get(timeout=30) == {"hello": ["world", 1]}
    assert sleep_then_now.delay(0).get(timeout=30).startswith("20")


def rabbitmq_and_redis_file(folder: Path, broker: tuple[str, str, str], results: tuple[str, str]) -> Path:
    """A deployment file on a RabbitMQ account (user, password, vhost), results in Redis (user, password)."""
    (user, password, vhost), (r_user, r_password) = broker, results
    path = folder / "api-config.yaml"
    path.write_text(
        "celery:\n"
        f"  broker_url: amqp://{user}:{password}@127.0.0.1:5672/{vhost}\n"
        f"  result_backend: redis://{r_user}:{r_password}@127.0.0.1:6379/13\n"
    )
    return path


def test_worker_on_the_embedded_default(deployment_file, tmp_path: Path) -> None:
    """No broker server: kombu's filesystem transport and a file:// backend, as `make run` uses."""
    queue = tmp_path / "queue"
    path = deployment_file(
        "celery:\n  broker_url: filesystem://\n"
        f"  broker_transport_options:\n    data_folder_in: {queue}\n    data_folder_out: {queue}\n"
        f"    processed_folder: {tmp_path / 'done'}\n"
        f"  result_backend: file://{tmp_path / 'results'}\n"
    )
    with celery_worker({"FLASK_CONFIG": str(path)}, cwd=Path("/"), log=tmp_path / "worker.log"):
        round_trip(path)
    log = (tmp_path / "worker.log").read_text()
    assert "filesystem" in log
    assert "No hostname was supplied" not in log  # kombu's warning, meaningless for a hostless transport


@pytest.mark.brokers
def test_worker_on_rabbitmq_and_redis(tmp_path: Path) -> None:
    """The seed's pairing, with an account and vhost of this run only; no secret in the worker log."""
    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        path = rabbitmq_and_redis_file(tmp_path, (user, password, vhost), (r_user, r_password))
        log = tmp_path / "worker.log"
        with celery_worker({"FLASK_CONFIG": str(path)}, cwd=Path("/"), log=log):
            round_trip(path)
        text = log.read_text()
        assert f"{user}:**@127.0.0.1:5672/{vhost}" in text  # Celery's banner shows the masked URL
        assert password not in text
        assert r_password not in text


@pytest.mark.brokers
def test_publishing_leaves_redis_results_unsubscribed_until_someone_waits(tmp_path: Path) -> None:
    """Celery's Redis backend would subscribe the publishing process to every task's result channel; a
    web view that only returns the task id never reads it. Waiting still gets every result: one stored
    before anyone waited, one that arrives while waiting, and a set of them."""
    import redis
    from celery.result import ResultSet

    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        path = rabbitmq_and_redis_file(tmp_path, (user, password, vhost), (r_user, r_password))
        flask_app = create_app(environ={"FLASK_CONFIG": str(path), **redis_keys.environ()})
        observer = redis.Redis(host="127.0.0.1", port=6379, username=r_user, password=r_password)

        def subscribers(task_id: str) -> int:
            [(_channel, count)] = observer.pubsub_numsub(f"{redis_keys.prefix()}celery-task-meta-{task_id}")
            return int(count)

        response = flask_app.test_client().post("/task/", json={"seconds": 0})
        assert response.status_code == 202
        early = echo.delay("stored before anyone waited")
        assert subscribers(response.json["task_id"]) == 0
        assert subscribers(early.id) == 0
        with celery_worker({"FLASK_CONFIG": str(path)}, cwd=Path("/"), log=tmp_path / "worker.log"):
            deadline = time.monotonic() + 30
            while early.state != "SUCCESS" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert early.get(timeout=10) == "stored before anyone waited"
            assert echo.delay("arrives while waiting").get(timeout=30) == "arrives while waiting"
            assert ResultSet([echo.delay(n) for n in range(5)]).join_native(timeout=30) == list(range(5))
        observer.close()


@pytest.mark.brokers
def test_worker_on_redis_alone(deployment_file, tmp_path: Path) -> None:
    with redis_account() as (user, password):
        path = deployment_file(
            "celery:\n"
            f"  broker_url: redis://{user}:{password}@127.0.0.1:6379/14\n"
            f"  result_backend: redis://{user}:{password}@127.0.0.1:6379/14\n"
        )
        log = tmp_path / "worker.log"
        with celery_worker({"FLASK_CONFIG": str(path)}, cwd=Path("/"), log=log):
            round_trip(path)
        assert password not in log.read_text()
