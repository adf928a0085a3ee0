"""Live rotation in every worker pool Celery ships: prefork, solo, threads, gevent, eventlet.

A worker (Celery's default startup: mingle, gossip, heartbeat) consumes a steady stream of tasks that the
test publishes as a user of its own; the deployment file moves the worker to a new RabbitMQ user. Each
pool switches in place (with an event loop: from the loop's timer; gevent and eventlet: between two
drains of the blocking loop), ``configsvc fleet --wait`` returns only once RabbitMQ lists no connection
of the old user, the old user is then revoked, and every task runs exactly once.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.amqp_frames import AmqpRecorder, ending
from tests.support.brokers import (
    delete_rabbitmq_user,
    rabbitmq_connection_users,
    rabbitmq_user,
    rabbitmq_vhost,
)
from tests.support.load import SUCCEEDED_ECHO, Publisher
from tests.support.processes import celery_worker, wait_for
from tests.support.reference import PROJECT, run_cli

pytestmark = pytest.mark.brokers

POOLS = ["prefork", "solo", "threads", "gevent", "eventlet"]


def write(path: Path, broker: str, tmp_path: Path, celery: str = "") -> None:
    replacement = path.with_name("next.yaml")
    replacement.write_text(f"secret_key: pool-rotation-secret-key\nconfig_reload_interval: 0.1\ncelery:\n"
                           f"  broker_url: {broker}\n  result_backend: file://{tmp_path / 'results'}\n"
                           + celery)
    os.replace(replacement, path)


@dataclass
class Users:
    """A vhost of the test's own with two users for the worker (it starts as ``old``) and one that
    publishes; the deployment file (``path``) on ``old``, its results in ``tmp_path``."""

    vhost: str
    old: tuple[str, str]
    new: tuple[str, str]
    publisher: tuple[str, str]
    path: Path

    def url(self, user: tuple[str, str], port: int = 5672) -> str:
        return f"amqp://{user[0]}:{user[1]}@127.0.0.1:{port}/{self.vhost}"

    @property
    def env(self) -> dict[str, str]:
        return {"FLASK_CONFIG": str(self.path), "APP_ENV": "production"}

    def send(self, name: str, *args: object) -> str:
        """Publish one task as the publisher; its id."""
        return send(self.url(self.publisher), name, *args)

    def switch_line(self) -> str:
        """What the worker logs once it runs as ``new``."""
        return f"switched to the new broker credentials: connected to the broker at amqp://{self.new[0]}:"


@pytest.fixture
def users(tmp_path: Path) -> Iterator[Users]:
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as old, rabbitmq_user(vhost) as new, \
            rabbitmq_user(vhost) as publisher:
        found = Users(vhost, old, new, publisher, tmp_path / "api-config.yaml")
        write(found.path, found.url(old), tmp_path)
        yield found


def succeeded(log: Path) -> Counter[str]:
    """How many times each ``app.tasks.echo`` ran, from the worker's log."""
    return Counter(SUCCEEDED_ECHO.findall(log.read_text()))


@pytest.mark.parametrize("pool", POOLS)
def test_a_live_switch_runs_every_task_once_in_every_pool(users: Users, tmp_path: Path, pool: str) -> None:
    """Under a steady stream of tasks the worker moves to a new RabbitMQ user. On the wire (every frame
    of the worker's connections, through a recorder): the old consuming connection settles every
    delivery, then ends with AMQP's close handshake; the new one consumes with the configured prefetch.
    ``fleet --wait`` returns once no connection of the old user is left; every task runs once."""
    log = tmp_path / "worker.log"
    concurrency = () if pool == "solo" else ("--concurrency=2",)
    with AmqpRecorder() as wire:
        write(users.path, users.url(users.old, wire.port), tmp_path)
        with celery_worker(users.env, cwd=Path("/"), log=log, pool=(f"--pool={pool}", *concurrency),
                           default_startup=True, name=pool):
            with Publisher(users.url(users.publisher), per_second=40) as load:
                wait_for(lambda: len(succeeded(log)) >= 20, 30, "the worker to run tasks")
                write(users.path, users.url(users.new, wire.port), tmp_path)
                done = run_cli("fleet", "--wait", "30", "--expect", "1", env=users.env)
                assert done.returncode == 0, done.stdout + done.stderr
                connected = rabbitmq_connection_users(users.vhost)
                assert users.old[0] not in connected, connected  # fleet said "current": none of the old
                delete_rabbitmq_user(users.old[0])  # the runbook's next step
                after = len(succeeded(log))
                wait_for(lambda: len(succeeded(log)) >= after + 20, 30, "tasks run as the new user")
            wait_for(lambda: set(load.sent) <= set(succeeded(log)), 30, "every published task to run")
            text = log.read_text()
    runs = succeeded(log)
    twice = [task_id for task_id, count in runs.items() if count > 1]
    first, *_, last = wire.consumers()
    before, after_switch = ending(wire.of(first)), ending(wire.of(last))
    print(f"\n{pool}: published {len(load.sent)}, ran {len(runs)}, ran twice {len(twice)}; old consuming "
          f"connection: {before}; new: prefetch {after_switch.prefetch}")
    assert not twice, twice
    assert wire.users[first] == users.old[0] and wire.users[last] == users.new[0]
    assert before.handshake and not before.unsettled and before.delivered > 0, before
    assert after_switch.prefetch[-1] == before.prefetch[-1], (before.prefetch, after_switch.prefetch)
    assert text.count(users.switch_line()) == 1, pool
    assert "ConnectionForced" not in text and "Traceback" not in text, wire.summary()
    assert users.old[1] not in text and users.new[1] not in text


def test_a_switch_waits_for_an_acknowledgement_still_queued_in_the_event_loop(users: Users,
                                                                             tmp_path: Path) -> None:
    """Celery marks a request acknowledged when it queues the acknowledgement in the event loop; the frame
    is written later. A switch in between must wait for the frame, or the broker delivers the task
    again on the new connection. Here the acknowledgement stays queued for 2 s while the file changes."""
    log = tmp_path / "worker.log"
    with celery_worker({**users.env, "QUEUED_ACK_SECONDS": "2"}, cwd=PROJECT, log=log,
                       target="tests.queued_ack_worker.celery"):
        task_id = users.send("tests.acknowledgement_queued")
        wait_for(lambda: f"[{task_id}] succeeded" in log.read_text(), 30, "the task to run")
        write(users.path, users.url(users.new), tmp_path)  # while its acknowledgement waits in the loop
        wait_for(lambda: users.switch_line() in log.read_text(), 30, "the switch")
        # A redelivery would come first (a message delivered again goes back to the head of the queue).
        marker = users.send("tests.acknowledgement_queued")
        wait_for(lambda: f"[{marker}] succeeded" in log.read_text(), 30, "a task after the switch")
        text = log.read_text()
    assert text.count(f"[{task_id}] succeeded") == 1, text[-3000:]
    assert text.index(users.switch_line()) > text.index(f"[{task_id}] succeeded")
    assert "Traceback" not in text


def test_a_switch_waits_for_the_acknowledgement_of_a_task_marked_done(users: Users, tmp_path: Path) -> None:
    """Celery marks a task done before a pool thread acknowledges its message; a switch in between
    would close the connection under the acknowledgement, and the task would run again."""
    log = tmp_path / "worker.log"
    with celery_worker({**users.env, "SLOW_ACK_SECONDS": "2"}, cwd=PROJECT, log=log,
                       target="tests.slow_ack_worker.celery", pool=("--pool=threads", "--concurrency=2")):
        task_id = users.send("tests.acknowledged_late")
        wait_for(lambda: f"[{task_id}] succeeded" in log.read_text(), 30, "the task to run")
        write(users.path, users.url(users.new), tmp_path)  # while its acknowledgement is 2 s away
        wait_for(lambda: users.switch_line() in log.read_text(), 30, "the switch")
        marker = users.send("app.tasks.echo", "after")
        wait_for(lambda: f"[{marker}] succeeded" in log.read_text(), 30, "a task after the switch")
        text = log.read_text()
    assert text.count(f"[{task_id}] succeeded") == 1, text[-3000:]
    assert text.index(users.switch_line()) > text.index(f"[{task_id}] succeeded")
    assert "Traceback" not in text


@pytest.mark.parametrize("cancel", [True, False])
def test_a_long_task_runs_once_across_a_switch_whatever_celery_does_on_connection_loss(
        users: Users, tmp_path: Path, cancel: bool) -> None:
    """configsvc sets ``worker_cancel_long_running_tasks_on_connection_loss`` (on: Celery 6's default); a
    switch never loses the connection under a running task, so either value lets a long task with late
    acknowledgement finish on the old connection, once, and nothing is cancelled or warned about."""
    setting = f"  worker_cancel_long_running_tasks_on_connection_loss: {str(cancel).lower()}\n"
    write(users.path, users.url(users.old), tmp_path, setting)
    log = tmp_path / "worker.log"
    with celery_worker(users.env, cwd=Path("/"), log=log, pool=("--pool=prefork", "--concurrency=2")):
        task_id = users.send("app.tasks.sleep_then_now", 3)
        wait_for(lambda: f"[{task_id}] received" in log.read_text(), 30, "the task to start")
        write(users.path, users.url(users.new), tmp_path, setting)  # while it runs (3 s)
        wait_for(lambda: users.switch_line() in log.read_text(), 30, "the switch")
        marker = users.send("app.tasks.echo", "after")
        wait_for(lambda: f"[{marker}] succeeded" in log.read_text(), 30, "a task after the switch")
        text = log.read_text()
    assert text.count(f"[{task_id}] succeeded") == 1, text[-3000:]
    assert text.index(f"[{task_id}] succeeded") < text.index(users.switch_line())
    assert "Terminating" not in text and "WorkerLostError" not in text
    assert "worker_cancel_long_running_tasks_on_connection_loss" not in text  # Celery's warning


def send(broker: str, name: str, *args: object) -> str:
    """Publish one task as another user; its id."""
    from celery import Celery

    sender = Celery("pool-test-sender", broker=broker, set_as_current=False)
    try:
        return str(sender.send_task(name, args=list(args) or ["once"], ignore_result=True).id)
    finally:
        sender.close()


@pytest.mark.parametrize("pool", ["solo", "threads", "gevent", "eventlet"])
def test_fleet_waits_for_the_old_result_backend_connections_to_close(tmp_path: Path, pool: str) -> None:
    """In pools whose main process stores the results, the Redis result backend's password changes: a
    worker reports the new fingerprint only once no connection of the old password is left (each
    generation's connections carry their own client name). gevent and eventlet keep up with 40 tasks a
    second here only because configsvc reads the events connection without waiting (Celery's blocking loop
    waits 0.1 s there after every message: about 10 a second, the backlog that looked like a stall)."""
    from tests.support.brokers import redis_account, redis_cli, redis_clients

    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password), \
            rabbitmq_user(vhost) as (publisher, publisher_pw), redis_account() as (r_user, old_pw):
        new_pw = "p" + os.urandom(16).hex()
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        path = tmp_path / "api-config.yaml"

        def point_at(redis_password: str, generation: str) -> None:
            replacement = path.with_name("next.yaml")
            replacement.write_text(
                f"secret_key: pool-rotation-secret-key\nconfig_reload_interval: 0.1\ncelery:\n"
                f"  broker_url: {broker}\n  result_backend: redis://{r_user}:{redis_password}@127.0.0.1:6379/3\n"
                f"  redis_client_name: {generation}\n")
            os.replace(replacement, path)

        point_at(old_pw, "gen-old")
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        log = tmp_path / "worker.log"
        concurrency = () if pool == "solo" else ("--concurrency=2",)
        with celery_worker(env, cwd=Path("/"), log=log, pool=(f"--pool={pool}", *concurrency),
                           default_startup=True, name=pool):
            with Publisher(f"amqp://{publisher}:{publisher_pw}@127.0.0.1:5672/{vhost}", per_second=40,
                           store_results=True) as load:
                wait_for(lambda: any(c["name"] == "gen-old" for c in redis_clients(r_user)), 20,
                         "the worker to store results under the old password")
                redis_cli("ACL", "SETUSER", r_user, f">{new_pw}")
                point_at(new_pw, "gen-new")
                done = run_cli("fleet", "--wait", "30", "--expect", "1", env=env)
                assert done.returncode == 0, done.stdout + done.stderr
                left = [c for c in redis_clients(r_user) if c["name"] == "gen-old"]
                assert not left, left  # fleet said "current": the old password is no longer in use
                redis_cli("ACL", "SETUSER", r_user, f"<{old_pw}")
                after = len(succeeded(log))
                wait_for(lambda: len(succeeded(log)) >= after + 20, 30, "results stored with the new one")
            wait_for(lambda: set(load.sent) <= set(succeeded(log)), 30, "every published task to run")
        text = log.read_text()
        assert "Traceback" not in text and old_pw not in text and new_pw not in text
