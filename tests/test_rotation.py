"""Live rotation as a user does it: gunicorn and a prefork worker keep running while the deployment file
changes under a continuous stream of ``POST /task/``; every task is accepted and completes exactly once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from configsvc.celery.retiring import RETIRE_GRACE_SECONDS
from tests.support import redis_keys
from tests.support.brokers import (
    delete_rabbitmq_user,
    rabbitmq_connection_users,
    rabbitmq_user,
    rabbitmq_vhost,
    redis_account,
    redis_cli,
    redis_clients,
)
from tests.support.http import http
from tests.support.load import Load, assert_every_result_stored, assert_every_task_ran_once
from tests.support.processes import VENV_BIN, celery_worker, free_port, process_group, wait_for, web_process

pytestmark = pytest.mark.brokers

PREFORK = ("--concurrency=2",)


@contextmanager
def service(path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """What a user runs in production on ``path``: a prefork worker (started from ``/``) and gunicorn
    with two workers, logging to worker.log and web.log beside the file. Yields (URL, worker, web)."""
    env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
    with celery_worker(env, cwd=Path("/"), log=path.parent / "worker.log", pool=PREFORK,
                       default_startup=True) as worker, \
            web_process(env, cwd=path.parent, log=path.parent / "web.log", kind="gunicorn") as (url, web):
        yield url, worker, web


def configsvc(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(VENV_BIN / "configsvc"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    assert done.returncode == 0, done.stderr


def write_deployment(path: Path, broker_url: str, result_backend: str, extra: str = "") -> None:
    path.write_text(
        "secret_key: rotation-secret-key-sentinel\n"
        "celery:\n"
        f"  broker_url: {broker_url}\n"
        f"  result_backend: {result_backend}\n" + extra)


def test_rabbitmq_two_user_rotation_under_load(tmp_path: Path) -> None:
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (old_user, old_password), \
            rabbitmq_user(vhost) as (new_user, new_password), redis_account() as (r_user, r_password):
        path = tmp_path / "api-config.yaml"
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/12"
        metrics_port = free_port()  # the switches are timed in configsvc_rotation_switch_seconds
        write_deployment(path, f"amqp://{old_user}:{old_password}@127.0.0.1:5672/{vhost}", backend,
                         f"metrics: {{enabled: true, worker_port: {metrics_port}}}\n")
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        with service(path) as (url, worker, web):
            processes = process_group(worker) | process_group(web)
            assert "configsvc: connected to the broker" not in worker_log.read_text()  # said on a switch only
            with Load(url) as load:
                load.more(40)
                assert set(rabbitmq_connection_users(vhost)) == {old_user}
                # The runbook: the new user exists; point the file at it; wait; revoke the old user.
                configsvc("set", str(path), "celery.broker_url",
                          f"amqp://{new_user}:{new_password}@127.0.0.1:5672/{vhost}")
                # The runbook's step before revoking: every worker runs what the file holds now.
                configsvc("fleet", "--wait", "30", env={"FLASK_CONFIG": str(path), "APP_ENV": "production"})
                delete_rabbitmq_user(old_user)
                load.more(40)
            assert set(rabbitmq_connection_users(vhost)) == {new_user}
            switched = f"configsvc: switched to the new broker credentials: connected to the broker at " \
                       f"amqp://{new_user}:"
            assert worker_log.read_text().count(switched) == 1
            assert_a_planned_switch_logs_at_info(worker_log, web_log)
            assert_every_task_ran_once(load, worker_log, "RabbitMQ two-user rotation")
            assert process_group(worker) | process_group(web) == processes
            assert http("GET", url + "/healthz")[1]["config"] == "ok"
            # The worker's one consumer switched once; the web processes' publishers switched.
            worker_metrics = metric_samples(f"http://127.0.0.1:{metrics_port}/")
            assert worker_metrics[("configsvc_rotation_switch_seconds_count", "consumer")] == 1
            assert worker_metrics[("configsvc_rotation_switch_seconds_sum", "consumer")] < 30
            web_metrics = metric_samples(url + "/metrics")
            assert web_metrics[("configsvc_rotation_switch_seconds_count", "publisher")] >= 1
            status = subprocess.run([str(VENV_BIN / "configsvc"), "fleet", "--json"], capture_output=True,
                                    text=True, timeout=60,
                                    env={**os.environ, "FLASK_CONFIG": str(path), "APP_ENV": "production"})
            assert [w.get("metrics_port") for w in json.loads(status.stdout)["workers"]] == [metrics_port]
        for log in (worker_log, web_log):
            text = log.read_text()
            assert old_password not in text and new_password not in text and r_password not in text


def metric_samples(url: str) -> dict[tuple[str, str], float]:
    """One scrape: the samples by name and ``connection`` label."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {(sample.name, sample.labels.get("connection", "")): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def assert_a_planned_switch_logs_at_info(*logs: Path) -> None:
    """A planned rotation is not an incident: no WARNING or ERROR line about it in any process (alert
    rules watch those), no "Connection to broker lost"; configsvc's lines about it are INFO."""
    for log in logs:
        lines = log.read_text().splitlines()
        loud = [line for line in lines if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
                and ("configsvc" in line or "broker" in line.lower())]
        assert not loud, (log.name, loud[:5])
        assert not [line for line in lines if "Connection to broker lost" in line], log.name
        planned = [line for line in lines if "reloaded the configuration" in line or "switched to" in line]
        assert planned and all(" INFO" in line or "INFO/" in line for line in planned), (log.name, planned)


def test_redis_password_rotation_under_load(tmp_path: Path) -> None:
    """Redis alone (broker and results): a second password, the file replaced atomically, the old
    password removed and the clients still using it killed (there must be none)."""
    with redis_account() as (user, old_password):
        new_password = "p" + os.urandom(16).hex()
        path = tmp_path / "api-config.yaml"

        def redis_file(password: str, generation: str) -> str:
            # A client name per credential generation shows which connections use which password.
            return (f"redis://{user}:{password}@127.0.0.1:6379/10", f"redis://{user}:{password}@127.0.0.1:6379/11",
                    f"  broker_transport_options: {{client_name: {generation}}}\n"
                    f"  redis_client_name: {generation}\n")

        write_deployment(path, *redis_file(old_password, "gen-old"))
        worker_log = tmp_path / "worker.log"
        with service(path) as (url, worker, web):
            processes = process_group(worker) | process_group(web)
            with Load(url) as load:
                load.more(40)
                assert {c["name"] for c in redis_clients(user)} >= {"gen-old"}
                redis_cli("ACL", "SETUSER", user, f">{new_password}")
                replacement = tmp_path / "api-config.yaml.new"
                write_deployment(replacement, *redis_file(new_password, "gen-new"))
                os.replace(replacement, path)
                # A retired pool keeps a connection that is in use (a publish under way) for at most
                # RETIRE_GRACE_SECONDS; seen once past 20 s in a loaded full run.
                wait_for(lambda: not [c for c in redis_clients(user) if c["name"] == "gen-old"],
                         RETIRE_GRACE_SECONDS + 5, "no connection left under the old password", interval=0.3)
                redis_cli("ACL", "SETUSER", user, f"<{old_password}")
                for client in redis_clients(user):  # the runbook's kill: clients of the old password
                    if client["name"] == "gen-old":
                        redis_cli("CLIENT", "KILL", "ID", client["id"])
                load.more(40)
            assert {c["name"] for c in redis_clients(user)} == {"gen-new"}
            assert_every_task_ran_once(load, worker_log, "Redis ACL password rotation")
            assert process_group(worker) | process_group(web) == processes


def test_result_backend_rotation_under_load(tmp_path: Path) -> None:
    """RabbitMQ stays; the Redis result backend's password changes, the file edited in place."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (b_user, b_password), \
            redis_account() as (user, old_password):
        new_password = "p" + os.urandom(16).hex()
        path = tmp_path / "api-config.yaml"
        broker = f"amqp://{b_user}:{b_password}@127.0.0.1:5672/{vhost}"

        def backend(password: str) -> str:
            return f"redis://{user}:{password}@127.0.0.1:6379/9"

        write_deployment(path, broker, backend(old_password), "  redis_client_name: gen-old\n")
        worker_log = tmp_path / "worker.log"
        with service(path) as (url, worker, web):
            processes = process_group(worker) | process_group(web)
            with Load(url) as load:
                load.more(40)
                redis_cli("ACL", "SETUSER", user, f">{new_password}")
                with open(path, "r+") as file:  # an editor writing in place
                    text = file.read().replace(old_password, new_password).replace("gen-old", "gen-new")
                    file.seek(0)
                    file.truncate()
                    file.write(text)
                wait_for(lambda: not [c for c in redis_clients(user) if c["name"] == "gen-old"], 20,
                         "no result-backend connection left under the old password", interval=0.3)
                redis_cli("ACL", "SETUSER", user, f"<{old_password}")
                load.more(40)
            assert {c["name"] for c in redis_clients(user)} <= {"gen-new"}
            assert_every_task_ran_once(load, worker_log, "result backend rotation")
            assert process_group(worker) | process_group(web) == processes
            states = [http("GET", f"{url}/task/{task_id}")[1]["state"] for task_id in load.accepted[-20:]]
            assert states == ["SUCCESS"] * len(states)


def test_a_file_rewritten_in_place_with_a_pause_loses_nothing(tmp_path: Path) -> None:
    """Hardening round 3: the file is rewritten in place to a new broker user, and its writer pauses for
    0.5 s right after ``broker_url`` (long past the settle time). The half-written file drops the result
    backend: it is refused as incomplete; the whole file is applied when the writer finishes."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (old_user, old_password), \
            rabbitmq_user(vhost) as (new_user, new_password), redis_account() as (r_user, r_password):
        path = tmp_path / "api-config.yaml"
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/6"
        write_deployment(path, f"amqp://{old_user}:{old_password}@127.0.0.1:5672/{vhost}", backend)
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        full = path.read_text().replace(f"{old_user}:{old_password}", f"{new_user}:{new_password}")
        cut = full.index("\n", full.index("broker_url:")) + 1
        with service(path) as (url, _, _):
            with Load(url) as load:
                load.more(40)
                with open(path, "w") as file:  # an editor or a script writing in place, pausing
                    file.write(full[:cut])
                    file.flush()
                    time.sleep(0.5)
                    file.write(full[cut:])
                configsvc("fleet", "--wait", "30", env={"FLASK_CONFIG": str(path), "APP_ENV": "production"})
                delete_rabbitmq_user(old_user)
                load.more(40)
            assert set(rabbitmq_connection_users(vhost)) == {new_user}
            assert_every_task_ran_once(load, worker_log, "a file written in place with a pause")
            assert_every_result_stored(load, url, "a file written in place with a pause")
        for log in (worker_log, web_log):
            text = log.read_text()
            assert "taken as incomplete" in text, log.name  # every process saw the half and refused it
            assert "Traceback" not in text and old_password not in text and new_password not in text


def redis_outage(user: str, password: str, seconds: float = 1.0) -> None:
    """The Redis user is gone for ``seconds`` (its connections closed with it), then back as it was."""
    redis_cli("ACL", "DELUSER", user)
    time.sleep(seconds)
    redis_cli("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")


def test_a_short_result_backend_outage_loses_no_result(tmp_path: Path) -> None:
    """Hardening round 3: the result backend's Redis user gone for 1 s under load left 25 of 200 tasks
    acknowledged with no result (PENDING for ever). The shipped defaults retry storing a result through
    it (result_backend_always_retry, bounded)."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password), \
            redis_account() as (r_user, r_password):
        path = tmp_path / "api-config.yaml"
        write_deployment(path, f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                         f"redis://{r_user}:{r_password}@127.0.0.1:6379/5")
        worker_log = tmp_path / "worker.log"
        with service(path) as (url, _, _):
            with Load(url) as load:
                load.more(40)
                redis_outage(r_user, r_password)
                load.more(40)
            assert_every_task_ran_once(load, worker_log, "a 1 s result backend outage")
            assert_every_result_stored(load, url, "a 1 s result backend outage")
        text = worker_log.read_text()
        assert r_password not in text and password not in text


def test_publishing_retries_through_a_short_broker_outage(tmp_path: Path) -> None:
    """The reference app's publish retry: Redis as the broker, its user gone for 1 s while requests
    come in; every request is accepted (none gets 503). Only the web processes run: the tasks stay
    queued, and the test's Redis database is emptied afterwards."""
    with redis_account() as (user, password):
        path = tmp_path / "api-config.yaml"
        write_deployment(path, f"redis://{user}:{password}@127.0.0.1:6379/4",
                         f"redis://{user}:{password}@127.0.0.1:6379/4")
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        try:
            with web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _), \
                    Load(url, at_least=150) as load:
                load.more(40)
                redis_outage(user, password)
                load.more(40)
            print(f"\na 1 s broker outage: posted {len(load.answers)}, refused {len(load.refused)}")
            assert len(load.answers) >= 150 and not load.refused, load.refused[:5]
        finally:
            redis_cli("-n", "4", "FLUSHDB")
        assert password not in (tmp_path / "web.log").read_text()


def roundtrip(url: str) -> None:
    """One task through the running web app and worker, to SUCCESS."""
    status, body, _ = http("POST", url + "/task/", {"seconds": 0})
    assert status == 202, body
    wait_for(lambda: http("GET", f"{url}/task/{body['task_id']}")[1]["state"] == "SUCCESS", 30,
             "the task to succeed", interval=0.2)


def healthz_config_is(url: str, expected: str) -> bool:
    """True when several /healthz answers in a row (every gunicorn worker) report ``expected``."""
    return all(http("GET", url + "/healthz")[1].get("config") == expected for _ in range(6))


def test_bad_rotations_are_refused_and_the_service_keeps_running(tmp_path: Path) -> None:
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password), \
            redis_account() as (r_user, r_password):
        path = tmp_path / "api-config.yaml"
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        write_deployment(path, broker, f"redis://{r_user}:{r_password}@127.0.0.1:6379/8")
        configsvc("keygen", "--out", str(tmp_path / "master.key"))
        configsvc("encrypt", str(path), "--only", r"secret_key|celery\..*")
        good = path.read_text()
        good_key = (tmp_path / "master.key").read_bytes()
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"

        def half_written() -> None:
            path.write_text(good[: len(good) // 2])

        def wrong_key() -> None:
            configsvc("keygen", "--out", str(tmp_path / "other.key"))
            os.replace(tmp_path / "other.key", tmp_path / "master.key")

        def tampered() -> None:
            at = good.index("ENC[AES256_GCM,") + 20
            path.write_text(good[:at] + ("A" if good[at] != "A" else "B") + good[at + 1:])

        def invalid_value() -> None:
            path.write_text(good + "port: 99999\n")

        def refused_credentials() -> None:
            configsvc("set", str(path), "celery.broker_url",
                      f"amqp://{user}:wrong-password-sentinel@127.0.0.1:5672/{vhost}")

        with service(path) as (url, worker, web):
            processes = process_group(worker) | process_group(web)
            roundtrip(url)
            for spoil in (half_written, wrong_key, tampered, invalid_value, refused_credentials):
                spoil()
                wait_for(lambda: healthz_config_is(url, "stale"), 10,
                         f"/healthz to say stale ({spoil.__name__})")
                roundtrip(url)  # still serving on the last good configuration
                (tmp_path / "master.key").write_bytes(good_key)
                path.write_text(good)
                wait_for(lambda: healthz_config_is(url, "ok"), 10, f"/healthz to recover ({spoil.__name__})")
                roundtrip(url)
            assert process_group(worker) | process_group(web) == processes
        for log in (worker_log, web_log):
            text = log.read_text()
            refusals = [line for line in text.splitlines() if "refused the new configuration" in line]
            assert refusals and all(str(path) in line for line in refusals)
            for secret in (password, r_password, "wrong-password-sentinel", "rotation-secret-key-sentinel"):
                assert secret not in text
            assert "Traceback" not in text


def test_a_worker_refused_by_the_broker_keeps_retrying_and_recovers_when_the_file_is_fixed(
        tmp_path: Path) -> None:
    """The old user is revoked before the file names the new one: the worker must not exit."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (old_user, old_password), \
            rabbitmq_user(vhost) as (new_user, new_password), redis_account() as (r_user, r_password):
        path = tmp_path / "api-config.yaml"
        write_deployment(path, f"amqp://{old_user}:{old_password}@127.0.0.1:5672/{vhost}",
                         f"redis://{r_user}:{r_password}@127.0.0.1:6379/7")
        worker_log = tmp_path / "worker.log"
        with service(path) as (url, worker, web):
            roundtrip(url)
            processes = process_group(worker)
            delete_rabbitmq_user(old_user)
            wait_for(lambda: worker_log.read_text().count("cannot connect to the broker") >= 2, 20,
                     "the worker to retry")
            assert worker.poll() is None
            started = time.monotonic()
            status, body, _ = http("POST", url + "/task/", {"seconds": 0})
            assert status == 503 and time.monotonic() - started < 2.5, body
            configsvc("set", str(path), "celery.broker_url",
                      f"amqp://{new_user}:{new_password}@127.0.0.1:5672/{vhost}")
            fixed = time.monotonic()
            wait_for(lambda: new_user in rabbitmq_connection_users(vhost), 10, "the worker to reconnect",
                     interval=0.2)
            print(f"\nworker reconnected {time.monotonic() - fixed:.2f} s after the file was fixed")
            roundtrip(url)
            assert process_group(worker) == processes
            assert process_group(web)


@pytest.mark.brokers
def test_many_rotations_with_two_workers_at_celerys_default_startup(deployment_file, tmp_path: Path) -> None:
    """Two workers with mingle, gossip and heartbeat on (a worker answers the other's mingle hello, which
    is how a stale control producer pool used to kill it with "Acquire on closed pool"), rotated back and
    forth quickly, each rotation arriving while the last restart may still be in mingle."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (first, first_pw), \
            rabbitmq_user(vhost) as (second, second_pw):
        path = tmp_path / "api-config.yaml"

        def point_at(user: str, password: str) -> None:
            replacement = deployment_file(f"config_reload_interval: 0.05\ncelery:\n  broker_url: "
                                   f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}\n"
                                   f"  result_backend: file://{tmp_path / 'results'}\n", name="next.yaml")
            os.replace(replacement, path)

        point_at(first, first_pw)
        env = {"FLASK_CONFIG": str(path)}
        logs = (tmp_path / "one.log", tmp_path / "two.log")
        with celery_worker(env, cwd=Path("/"), log=logs[0], pool=PREFORK, default_startup=True, name="one"), \
                celery_worker(env, cwd=Path("/"), log=logs[1], default_startup=True, name="two") as two:
            switches = Counter[str]()
            for number in range(ROTATIONS):
                user, password = (second, second_pw) if number % 2 == 0 else (first, first_pw)
                switches[user] += 1
                needed = switches[user]  # "connected to" is logged for every switch (not the first start)
                point_at(user, password)
                for log in logs:
                    wait_for(lambda log=log, user=user, needed=needed: log.read_text().count(
                        f"connected to the broker at amqp://{user}:") >= needed, 20,
                        f"rotation {number + 1} in {log.name}")
            text = "".join(log.read_text() for log in logs)
            assert "Unrecoverable error" not in text and "Acquire on closed pool" not in text
            assert two.poll() is None
            from app import create_app
            from app.tasks import echo

            create_app(environ={**env, **redis_keys.environ()})
            assert [echo.delay(n).get(timeout=30) for n in range(4)] == [0, 1, 2, 3]


ROTATIONS = 10  # it used to die at the first or second; 150 in a row passed in a longer run


def test_a_result_backend_still_held_after_its_retirement_connects_with_the_new_credentials(
        tmp_path: Path) -> None:
    """A task that took the app's result backend just before a switch stores its result just after the old
    backend was retired (and fleet said the new configuration is in use): it must not open a connection
    with the old password — neither a new one nor a closed one of the old pool reconnecting."""
    from app import create_app

    with redis_account() as (user, old_password):
        new_password = "p" + os.urandom(16).hex()
        path = tmp_path / "api-config.yaml"

        def point_at(password: str, name: str) -> None:
            write_deployment(path, "memory://", f"redis://{user}:{password}@127.0.0.1:6379/3",
                             f"  redis_client_name: {name}\n")

        point_at(old_password, "gen-old")
        app = create_app(environ={"FLASK_CONFIG": str(path), **redis_keys.environ()})
        celery = app.extensions["celery"]
        held = celery.backend  # what a task in flight holds
        held.set(f"{redis_keys.prefix()}before", "1")  # one connection of the old pool, idle now
        idle_then_reconnected = held.client.connection_pool.get_connection()  # and one checked out
        redis_cli("ACL", "SETUSER", user, f">{new_password}")  # both passwords work (a rotation's overlap)
        connections = celery.binding.connections
        old = connections.current
        point_at(new_password, "gen-new")
        assert app.extensions["configsvc"].reload(force=False)
        held.client.connection_pool.release(idle_then_reconnected)  # in use across the switch
        wait_for(lambda: not connections.in_use(old), 10, "the old backend's retirement")  # fleet's wait
        held.set(f"{redis_keys.prefix()}after", "1")  # the task in flight stores its result now
        held.client.set(f"{redis_keys.prefix()}again", "1")
        assert [c["name"] for c in redis_clients(user) if c["name"] == "gen-old"] == []
        assert {c["name"] for c in redis_clients(user)} == {"gen-new"}
