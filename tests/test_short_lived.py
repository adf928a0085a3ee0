"""Short-lived credentials for real: a RabbitMQ node of the tests' own that takes OAuth 2.0 tokens, a token
endpoint handing out 16-second JWTs, and a Redis of their own whose ACL passwords a test issuer hands out
with a lifetime and forgets after it. Web (gunicorn), a prefork worker and beat run through several
lifetimes under load: every task runs once, the tokens are renewed on the live connections, and no
connection is reopened."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from configsvc.celery.acceptance import CHECK_CONNECTION_NAME
from tests.support.brokers import rabbitmq_account
from tests.support.load import Load, assert_every_result_stored, assert_every_task_ran_once
from tests.support.oauth import TokenEndpoint, rabbitmq_oauth_node
from tests.support.processes import VENV_BIN, celery_beat, celery_worker, wait_for, web_process
from tests.support.rabbit_node import RabbitNode
from tests.support.redis_acl import (
    ADMIN_USER,
    PasswordIssuer,
    auth_calls,
    redis_cli,
    redis_info,
    redis_server,
)

pytestmark = pytest.mark.brokers

TOKEN_SECONDS = 10
BEAT_TICK = "  beat_schedule:\n    tick: {task: app.tasks.echo, schedule: 1.0, args: [beat-tick]}\n"
RENEWED = re.compile(r"INFO/MainProcess\] configsvc: credentials for broker_url renewed in place on (\d+)")


@contextmanager
def service(path: Path, tmp_path: Path) -> Iterator[str]:
    env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log",
                       pool=("--pool=prefork", "--concurrency=2"), default_startup=True), \
            celery_beat(env, cwd=tmp_path, log=tmp_path / "beat.log"), \
            web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
        yield url


def celery_cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``celery -A worker_entry.celery ...`` from the checkout, on the deployment file (it fetches its own
    token)."""
    return subprocess.run([str(VENV_BIN / "celery"), "-A", "worker_entry.celery", *args],
                          capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).parent.parent),
                          env={"FLASK_CONFIG": str(path), "APP_ENV": "production", "PATH": "/usr/bin:/bin"})


def lasting_connections(node: RabbitNode) -> set[str]:
    """The node's connections (``ip:port -> ip:port``) but the short one a process opens to check each new
    token before its live connections get it (named :data:`CHECK_CONNECTION_NAME`)."""
    named = f'{{<<"connection_name">>,longstr,<<"{CHECK_CONNECTION_NAME}">>}}'  # as Erlang prints it
    return {c["name"] for c in node.control.connections("name", "client_properties")
            if named not in c["client_properties"]}


def renewals(log: Path) -> int:
    return len(RENEWED.findall(log.read_text()))


def test_rabbitmq_oauth2_tokens_renewed_on_live_connections_under_load(tmp_path: Path) -> None:
    with TokenEndpoint(TOKEN_SECONDS) as endpoint, rabbitmq_oauth_node(tmp_path, endpoint.public_pem) as node:
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: amqp://{endpoint.client_id}@127.0.0.1:{node.port}//\n"
            "  result_backend: redis://127.0.0.1:6379/14\n" + BEAT_TICK +
            "credentials:\n  broker_url:\n    provider: oauth2\n"
            f"    token_url: {endpoint.url}\n    client_id: {endpoint.client_id}\n"
            f"    client_secret: {endpoint.client_secret}\n    timeout: 5\n")
        worker_log = tmp_path / "worker.log"
        with service(path, tmp_path) as url:
            with Load(url, per_second=10, at_least=200) as load:
                load.more(30)
                first = lasting_connections(node)
                started = time.monotonic()
                # Two lifetimes: every process's first token has expired, renewed several times.
                wait_for(lambda: renewals(worker_log) >= 3 and time.monotonic() - started > 2 * TOKEN_SECONDS,
                         120, "three renewals in the worker over two token lifetimes", interval=0.5)
                # A new declare on the *same* connection, long after its first token expired (RabbitMQ 3.10
                # refuses declares on a connection whose token expired, without closing it).
                queue = "configsvc-after-expiry"
                done = celery_cli(path, "control", "add_consumer", queue)
                assert "add consumer" in done.stdout.lower(), done.stdout + done.stderr
                called = celery_cli(path, "call", "app.tasks.echo", "--args", '["after-expiry"]',
                                    "--queue", queue)
                assert called.returncode == 0, called.stderr
                task_id = called.stdout.strip()
                wait_for(lambda: f"app.tasks.echo[{task_id}] succeeded" in worker_log.read_text(), 30,
                         "the task on the queue consumed after expiry to run")
                last = lasting_connections(node)
            assert_every_task_ran_once(load, worker_log, "oauth2 tokens")
            assert_every_result_stored(load, url, "oauth2 tokens")
        log = worker_log.read_text()
        sent = [int(n) for n in RENEWED.findall(log)]
        print(f"oauth2: {endpoint.issued} tokens issued, worker renewals {len(sent)} "
              f"(update-secret on {sent} connections), connections {len(first)} -> {len(last)}")
        assert first <= last, f"connections reopened: {sorted(first - last)}"
        assert f"has a client-provided name: {CHECK_CONNECTION_NAME}" in node.log_text()
        assert all(count >= 2 for count in sent), sent  # the consumer's and the events' at least
        assert "Connection to broker lost" not in log
        assert "ACCESS_REFUSED" not in log and "token has expired" not in log
        assert (tmp_path / "beat.log").read_text().count("Scheduler: Sending due task tick") >= 20
        assert "beat-tick" in log
        assert "switching connections live" not in log


TOKEN_COMMAND = """#!{python}
# A token helper as a deployment might have one: client credentials at the token endpoint, the JWT printed.
import base64, json, urllib.request
url = open("{url_file}").read().strip()
request = urllib.request.Request(url, data=b"grant_type=client_credentials", headers={{
    "Authorization": "Basic " + base64.b64encode(b"{client_id}:{client_secret}").decode(),
    "Content-Type": "application/x-www-form-urlencoded"}})
token = json.load(urllib.request.urlopen(request, timeout=5))
print(json.dumps({{"password": token["access_token"], "expires_in": token["expires_in"]}}))
"""


def test_rabbitmq_jwts_from_a_command_renewed_in_place_and_a_refused_one_never_reaches_them(
        tmp_path: Path) -> None:
    """Tokens from a command, renewed on the prefork worker's live connections; for a while the command
    hands out tokens signed with a key the broker does not trust: each is refused on a connection of
    its own, no live connection gets it (RabbitMQ would close it), and the worker recovers."""
    lifetime = 10
    with TokenEndpoint(lifetime) as endpoint, TokenEndpoint(lifetime) as impostor, \
            rabbitmq_oauth_node(tmp_path, endpoint.public_pem) as node:
        url_file = tmp_path / "token-url"
        url_file.write_text(endpoint.url)
        program = tmp_path / "mq-token"
        program.write_text(TOKEN_COMMAND.format(python=sys.executable, url_file=url_file,
                                                client_id=endpoint.client_id,
                                                client_secret=endpoint.client_secret))
        program.chmod(0o700)
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: amqp://{endpoint.client_id}@127.0.0.1:{node.port}//\n"
            f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n")
        worker_log = tmp_path / "worker.log"
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--pool=prefork", "--concurrency=2"),
                           default_startup=True):
            first = lasting_connections(node)
            started = time.monotonic()
            wait_for(lambda: renewals(worker_log) >= 2 and time.monotonic() - started > 1.5 * lifetime, 60,
                     "two renewals, past the first token's expiry", interval=0.5)
            url_file.write_text(impostor.url)
            wait_for(lambda: "broker refused the new credential" in worker_log.read_text(), 30,
                     "a token signed with the wrong key to be refused")
            refused_renewals = renewals(worker_log)
            url_file.write_text(endpoint.url)
            wait_for(lambda: "works again" in worker_log.read_text(), 60, "the command to work again")
            wait_for(lambda: renewals(worker_log) > refused_renewals, 30, "a renewal after the recovery")
            done = celery_cli(path, "control", "add_consumer", "configsvc-after-expiry-command")
            assert "add consumer" in done.stdout.lower(), done.stdout + done.stderr
            called = celery_cli(path, "call", "app.tasks.echo", "--args", '["after-expiry"]',
                                "--queue", "configsvc-after-expiry-command")
            task_id = called.stdout.strip()
            wait_for(lambda: f"app.tasks.echo[{task_id}] succeeded" in worker_log.read_text(), 30,
                     "the task on the queue consumed after expiry to run")
            worker_connections = first & lasting_connections(node)
        assert worker_connections == first, "a connection of the worker was reopened"
        log = worker_log.read_text()
        failure = next(line for line in log.splitlines() if "broker refused the new credential" in line)
        assert f"credentials for broker_url: provider command ({program}) failed (the broker refused the " \
               "new credential (ACCESS_REFUSED)); keeping the current one until" in failure, failure
        assert "New secret was refused" not in log and "Connection to broker lost" not in log
        assert "switching connections live" not in log


# --- Redis: ACL passwords with a lifetime --------------------------------------------------------------

def client_ids(port: int, older_than: int = 0) -> set[str]:
    """The connections open at the Redis for at least ``older_than`` seconds (the test's administrator's
    left out): with 2, the stack's long-lived ones, not a check connection caught in its few
    milliseconds."""
    return {line.split()[0] for line in redis_cli(port, "CLIENT", "LIST").splitlines()
            if f" user={ADMIN_USER} " not in line and int(line.split(" age=")[1].split()[0]) >= older_than}


def test_redis_acl_passwords_renewed_with_auth_on_live_connections(tmp_path: Path) -> None:
    lifetime = 8
    with redis_server(tmp_path) as port:
        issuer = PasswordIssuer(tmp_path, port, "svc", lifetime)
        provider = issuer.provider_yaml()
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: redis://svc@127.0.0.1:{port}/0\n"
            f"  result_backend: redis://svc@127.0.0.1:{port}/1\n" + BEAT_TICK +
            "credentials:\n  broker_url:\n" + provider + "  result_backend:\n" + provider)
        worker_log = tmp_path / "worker.log"
        with service(path, tmp_path) as url:
            with Load(url, per_second=10, at_least=160) as load:
                load.more(30)
                before, issued_before, open_before = redis_info(port), issuer.issued(), client_ids(port, 2)
                started = time.monotonic()
                wait_for(lambda: time.monotonic() - started > 2 * lifetime, 60, "two password lifetimes")
                after, issued_after, open_after = redis_info(port), issuer.issued(), client_ids(port)
            assert_every_task_ran_once(load, worker_log, "redis passwords")
            assert_every_result_stored(load, url, "redis passwords")
        # Every connection the server received in between, less the issuer's own, the check connection of
        # each new password (opened and closed by the process that got it) and the polls'.
        received = int(after["total_connections_received"]) - int(before["total_connections_received"])
        new_connections = received - 2 * (issued_after - issued_before) - 2
        auths = auth_calls(after) - auth_calls(before)
        print(f"redis: {issued_after - issued_before} passwords issued, AUTH sent {auths} times on live "
              f"connections over {2 * lifetime} s; "
              f"new connections {new_connections}; clients {after['connected_clients']}")
        assert auths >= 12, auths  # several processes, several pools, renewed twice each
        assert open_before <= open_after, f"connections dropped: {sorted(open_before - open_after)}"
        assert new_connections <= 6, new_connections
        log = worker_log.read_text()
        assert "Connection to broker lost" not in log and "WRONGPASS" not in log
        assert "beat-tick" in log
        assert all(expiry >= time.time() - 2 * lifetime for expiry in issuer.remembered())  # old forgotten




def test_a_redis_result_backend_is_renewed_in_place_in_every_process(tmp_path: Path) -> None:
    """Celery builds its Redis result backend's connection pool itself, so redis-py never registers it for
    re-authentication: configsvc does. Each new password is sent with AUTH on the backend's live
    connections in the web processes and the pool processes, and no new connection replaces them."""
    lifetime, window = 6, 16
    with rabbitmq_account() as (user, password, vhost), redis_server(tmp_path) as port:
        issuer = PasswordIssuer(tmp_path, port, "svc", lifetime)
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: amqp://{user}:{password}@127.0.0.1:5672/{vhost}\n"
            f"  result_backend: redis://svc@127.0.0.1:{port}/1\n"
            "credentials:\n  result_backend:\n" + issuer.provider_yaml())
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--pool=prefork", "--concurrency=2")), \
                web_process(env, cwd=tmp_path, log=web_log, kind="gunicorn") as (url, _):
            with Load(url, per_second=10, at_least=160) as load:
                load.more(30)
                before, issued_before = redis_info(port), issuer.issued()
                started = time.monotonic()
                wait_for(lambda: time.monotonic() - started > window, 60, "a few password lifetimes")
                after, issued_after = redis_info(port), issuer.issued()
            assert_every_task_ran_once(load, worker_log, "redis result backend passwords")
            assert_every_result_stored(load, url, "redis result backend passwords")
    received = int(after["total_connections_received"]) - int(before["total_connections_received"])
    issued = issued_after - issued_before
    new_connections = received - 2 * issued  # less the issuer's own and each password's check connection
    in_place = auth_calls(after) - auth_calls(before) - issued  # less each check connection's AUTH
    renewed = [int(n) for n in re.findall(r"INFO/ForkPoolWorker-\d+\] configsvc: credentials for "
                                          r"result_backend renewed in place on (\d+) connection pool",
                                          worker_log.read_text())]
    print(f"redis result backend: {issued} passwords issued, AUTH on live connections {in_place}, new "
          f"connections {new_connections}, pools renewed at each pool process's refresh {renewed}")
    # A pool process that stored results holds a backend pool, renewed at each of its refreshes (every 3.8
    # to 4.2 s: at least 3 in 16 s; one that has not stored any has nothing to renew). The web processes
    # only publish here and hold no backend connection.
    assert sum(renewed) >= 3, renewed
    assert in_place >= 3, in_place
    assert new_connections <= 4, new_connections


# --- ElastiCache IAM: a Redis that takes the signed token as the user's password -------------------------

AWS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
       "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
       "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
       "AWS_EC2_METADATA_DISABLED": "true"}
IAM = {"user_id": "app-user", "cache_name": "my-cache", "region": "eu-west-1"}


def iam_tokens(seconds: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The token for ``IAM`` under ``AWS`` signed at each second of the next ``seconds``: a presigned
    request depends on nothing else, so the Redis can know them all in advance."""
    import botocore.auth
    from botocore.credentials import Credentials

    from configsvc.credentials.aws_iam import AwsIamProvider

    provider = AwsIamProvider("broker_url", IAM, {})
    credentials = Credentials(AWS["AWS_ACCESS_KEY_ID"], AWS["AWS_SECRET_ACCESS_KEY"])
    start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=2)
    tokens = []
    for offset in range(seconds):
        moment = start + timedelta(seconds=offset)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda moment=moment: moment)
        tokens.append(provider.token(credentials))
    monkeypatch.undo()
    return tokens


def test_aws_iam_tokens_are_the_users_password_in_every_process(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with redis_server(tmp_path) as port:
        tokens = iam_tokens(300, monkeypatch)
        redis_cli(port, "ACL", "SETUSER", IAM["user_id"], "on", "~*", "&*", "+@all",
                  *(">" + token for token in tokens))
        provider = "".join(f"    {key}: {value}\n" for key, value in {"provider": "aws_iam", **IAM}.items())
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: redis://127.0.0.1:{port}/0\n"
            f"  result_backend: redis://127.0.0.1:{port}/1\n"
            "credentials:\n  broker_url:\n" + provider + "  result_backend:\n" + provider)
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production", **AWS}
        worker_log = tmp_path / "worker.log"
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--pool=prefork", "--concurrency=2"),
                           default_startup=True), \
                web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
            with Load(url, per_second=30, at_least=120) as load:
                load.more(60)
            assert_every_task_ran_once(load, worker_log, "aws_iam tokens")
            assert_every_result_stored(load, url, "aws_iam tokens")
            users = {line.split()[0] for line in redis_cli(port, "CLIENT", "LIST").splitlines()
                     for line in [" ".join(f for f in line.split() if f.startswith("user="))] if line}
        assert users == {"user=app-user", f"user={ADMIN_USER}"}, users
        assert redis_cli(port, "ACL", "LOG").strip() == "", "a token was refused"
        assert "WRONGPASS" not in worker_log.read_text()


# --- A provider that stops answering ---------------------------------------------------------------------

FLAKY = """#!/bin/sh
# Answers while the mode file says ok; fails (exit 3) otherwise.
[ "$(cat {mode})" = ok ] || exit 3
echo '{{"username": "{user}", "password": "{password}", "expires_in": {lifetime}}}'
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def health(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_provider_that_stops_answering_is_reported_retried_without_spinning_and_recovers(
        tmp_path: Path) -> None:
    lifetime = 6
    with rabbitmq_account() as (user, password, vhost):
        mode = tmp_path / "mode"
        mode.write_text("ok")
        program = tmp_path / "issue"
        program.write_text(FLAKY.format(mode=mode, user=user, password=password, lifetime=lifetime))
        program.chmod(0o700)
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: amqp://127.0.0.1:5672/{vhost}\n"
            f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n")
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        worker_log = tmp_path / "worker.log"
        with celery_worker(env, cwd=Path("/"), log=worker_log) as worker, \
                web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
            assert health(url)[1]["credentials"] == "ok"
            mode.write_text("fail")
            wait_for(lambda: health(url)[1]["credentials"] == "refresh failing", 3 * lifetime,
                     "/healthz to say refresh failing")
            wait_for(lambda: health(url)[0] == 503, 2 * lifetime, "/healthz to say expired (503)")
            body = health(url)[1]
            assert body["credentials"] == "expired" and body["credentials_expire_at"], body
            cpu_before, lines_before = cpu_seconds(worker.pid), worker_log.read_text().count("failed (")
            time.sleep(6)
            cpu = cpu_seconds(worker.pid) - cpu_before
            lines = worker_log.read_text().count("failed (") - lines_before
            mode.write_text("ok")
            wait_for(lambda: health(url)[1]["credentials"] == "ok", 90, "/healthz to say ok again")
            wait_for(lambda: "works again" in worker_log.read_text(), 90, "the worker to say it works again")
        log = worker_log.read_text()
        print(f"provider failing: the expired worker used {cpu:.2f} s of CPU in 6 s and logged {lines} "
              "failures")
        assert cpu < 0.6 and lines <= 3, (cpu, lines)  # retried with backoff, no busy loop
        failure = next(line for line in log.splitlines() if "failed (" in line)
        assert f"credentials for broker_url: provider command ({program}) failed ({program} exited with " \
               "status 3)" in failure, failure
        assert password not in log and password not in (tmp_path / "web.log").read_text()


def queue_counts(user: str, password: str, vhost: str, queue: str = "celery") -> tuple[int, int]:
    """(messages ready, consumers) of ``queue``, asked of the broker."""
    from kombu import Connection

    with Connection(f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}", connect_timeout=5) as connection:
        _, messages, consumers = connection.default_channel.queue_declare(queue, passive=True)
    return messages, consumers


def test_an_expired_credential_is_used_by_no_connection_until_a_fetch_succeeds(tmp_path: Path) -> None:
    """The provider fails and the credential expires — though the broker would still take it: the worker
    stops taking messages (they wait in the queue), a publish fails at once (503), /healthz says
    ``credentials: expired`` without calling the broker unreachable; all resume when a fetch succeeds,
    every waiting task run once."""
    from celery import Celery

    lifetime = 6
    with rabbitmq_account() as (user, password, vhost):
        mode = tmp_path / "mode"
        mode.write_text("ok")
        program = tmp_path / "issue"
        program.write_text(FLAKY.format(mode=mode, user=user, password=password, lifetime=lifetime))
        program.chmod(0o700)
        path = tmp_path / "api-config.yaml"
        path.write_text(
            "secret_key: short-lived-test-secret-key-0123456789\n"
            f"celery:\n  broker_url: amqp://127.0.0.1:5672/{vhost}\n"
            f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n")
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        worker_log = tmp_path / "worker.log"
        publisher = Celery("expiry-test", broker=f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                           set_as_current=False)
        with celery_worker(env, cwd=Path("/"), log=worker_log), \
                web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
            wait_for(lambda: queue_counts(user, password, vhost)[1] == 1, 10, "the worker to consume")
            mode.write_text("fail")
            wait_for(lambda: health(url)[0] == 503, 3 * lifetime, "/healthz to say expired (503)")
            body = health(url)[1]
            assert body["credentials"] == "expired" and body["broker"] == "credentials expired", body
            wait_for(lambda: queue_counts(user, password, vhost)[1] == 0, 10,
                     "the worker to stop consuming with the expired credential")
            started = time.monotonic()
            refused = post_task(url)
            assert refused == 503 and time.monotonic() - started < 3, refused
            for number in range(5):
                publisher.send_task("app.tasks.echo", args=[f"while-expired-{number}"])
            time.sleep(2)  # a worker still consuming would take them within this
            assert queue_counts(user, password, vhost) == (5, 0)
            mode.write_text("ok")
            wait_for(lambda: queue_counts(user, password, vhost) == (0, 1), 30,
                     "the worker to consume again and run what waited")
            wait_for(lambda: post_task(url) == 202, 10, "a publish to work again")
            assert health(url)[1]["credentials"] == "ok"
            wait_for(lambda: worker_log.read_text().count("while-expired-4") >= 1, 10, "the last one to run")
        publisher.close()
        log = worker_log.read_text()
        for number in range(5):
            runs = len(re.findall(rf"succeeded in [^:]*: 'while-expired-{number}'", log))
            assert runs == 1, (number, runs)
        assert "expired at" in log and "with no new one" in log
        assert password not in log and password not in (tmp_path / "web.log").read_text()


def post_task(url: str) -> int:
    request = urllib.request.Request(f"{url}/task/", data=b'{"seconds": 0}', method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
