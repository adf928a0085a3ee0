"""Short-lived credentials renewed on the live connections, under load. One run.

Two stacks, each gunicorn (``--preload``, 2 workers), a Celery worker (prefork, concurrency 2, Celery's
default startup) and beat, loaded with ``POST /task/`` at ``--rate`` for ``--seconds``:

- AMQP: a RabbitMQ node of the benchmark's own with the OAuth 2.0 plugin, JWTs of ``--lifetime`` seconds
  from a local token endpoint (provider ``oauth2``), renewed with ``connection.update-secret``; results in
  this machine's Redis;
- Redis: a Redis of its own as broker and result backend, ACL passwords of ``--lifetime`` seconds from a
  ``command`` issuer, renewed with ``AUTH``; then the same with passwords of an hour (no refresh in the
  span), for the connections the stack opens anyway.

For each it reports:

1. per refresh, in every process, the seconds from the provider's answer to every connection of the
   process renewed (the process's own renewal line): median, p99 (target p99 < 1 s);
2. reconnects per refresh: the stack's connections the broker listed at the start of the measured span
   and no longer at its end (RabbitMQ ``list_connections``, Redis ``CLIENT LIST``), over the refreshes in
   the span (target 0); also the connections opened in the span and still open at its end (a pool that
   grew), and the check connections (one per new credential, opened and closed by each process before
   its live connections get the credential);
3. tasks completed per second in the 1-second windows that hold a refresh against the windows that do not
   (target: a dip under 2%).

Needs this machine's Redis; starts its own RabbitMQ node, token endpoint and Redis, stops them. Prints the
figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_tokens [--seconds S] [--lifetime S] [--rate N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from benchmarks.bench_rotation import STAMPED, gunicorn_logging, percentile
from tests.support.load import Load
from tests.support.oauth import TokenEndpoint, rabbitmq_oauth_node
from tests.support.processes import celery_beat, celery_worker, web_process
from tests.support.redis_acl import ADMIN_USER, PasswordIssuer, redis_cli, redis_server

RENEWED = re.compile(r"configsvc: credentials for (\w+) renewed in place on (\d+) .*, ([\d.]+) ms after")
SUCCEEDED = re.compile(r"Task app\.tasks\.sleep_then_now\[[0-9a-f-]+\] succeeded")
SWITCHED = "switching connections live"


@contextmanager
def stack(folder: Path, path: Path) -> Iterator[tuple[str, list[Path]]]:
    """gunicorn, a prefork worker and beat on the deployment file at ``path``; their logs."""
    env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
    logging_config = folder / "logging.json"
    logging_config.write_text(json.dumps(gunicorn_logging()))
    logs = [folder / "worker.log", folder / "beat.log", folder / "web.log"]
    (folder / "web").mkdir()
    with celery_worker(env, cwd=Path("/"), log=logs[0], pool=("--pool=prefork", "--concurrency=2"),
                       default_startup=True), \
            celery_beat(env, cwd=folder, log=logs[1]), \
            web_process({**env, "GUNICORN_CMD_ARGS": f"--log-config-json {logging_config}"},
                        cwd=folder / "web", log=logs[2], kind="gunicorn") as (url, _):
        yield url, logs


def stamped(logs: list[Path]) -> Iterator[tuple[float, str, str]]:
    """(moment, process, message) of every stamped log line."""
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            match = STAMPED.match(line)
            if match:
                moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                yield moment, f"{log.stem}:{match.group(3) or match.group(4)}", match.group(5)


def measure(label: str, url: str, logs: list[Path], options: argparse.Namespace,
            connections: Callable[[], set[str]]) -> None:
    """Load the stack for ``options.seconds``; print the three figures. ``connections()`` names the
    stack's open connections at the broker."""
    with Load(url, per_second=options.rate, at_least=0) as load:
        time.sleep(3)  # warm
        start, before = time.time(), connections()
        time.sleep(options.seconds)
        end, after = time.time(), connections()
    lines = list(stamped(logs))
    renewals = [(moment, float(found[3]) / 1000) for moment, _, message in lines
                if start <= moment < end and (found := RENEWED.search(message))]
    switches = sum(1 for moment, _, message in lines if start <= moment < end and SWITCHED in message)
    done = Counter(int(moment - start) for moment, _, message in lines
                   if start <= moment < end and SUCCEEDED.search(message))
    refresh_windows = {int(moment - start) for moment, _ in renewals}
    seconds = range(int(end - start))
    during = [done[s] for s in seconds if s in refresh_windows]
    control = [done[s] for s in seconds if s not in refresh_windows]
    delays = [delay for _, delay in renewals]
    print(f"{label}: {len(load.accepted)} tasks accepted at {options.rate:g}/s, "
          f"{len(renewals)} refreshes in {options.seconds:g} s across the processes, "
          f"{switches} live switches")
    if delays:
        print(f"  new credential -> every connection of the process renewed: median "
              f"{statistics.median(delays) * 1000:.1f} ms, p99 {percentile(delays, 0.99) * 1000:.1f} ms, "
              f"max {max(delays) * 1000:.1f} ms (target p99 < 1 s)")
    dropped, kept = before - after, after - before
    print(f"  reconnects: {len(dropped)} of the {len(before)} connections open at the start were gone at the "
          f"end, {len(dropped) / max(len(renewals), 1):.2f} per refresh (target 0); {len(kept)} opened in "
          f"the span and still open; {len(renewals)} check connections (one per new credential)")
    if during and control:
        dip = 1 - statistics.mean(during) / statistics.mean(control)
        print(f"  tasks/s in the {len(during)} one-second windows holding a refresh: mean "
              f"{statistics.mean(during):.1f}; in the {len(control)} others: {statistics.mean(control):.1f}; "
              f"dip {dip:+.1%} (target < 2%)")


def amqp(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as name, \
            TokenEndpoint(int(options.lifetime), separate_process=True) as endpoint:
        folder = Path(name)
        with rabbitmq_oauth_node(folder, endpoint.public_pem) as node:
            path = folder / "api-config.yaml"
            path.write_text(
                "secret_key: bench-tokens-secret-key-0123456789\n"
                f"celery:\n  broker_url: amqp://{endpoint.client_id}@127.0.0.1:{node.port}//\n"
                "  result_backend: redis://127.0.0.1:6379/13\n"
                "  beat_schedule:\n    tick: {task: app.tasks.echo, schedule: 1.0, args: [tick]}\n"
                "credentials:\n  broker_url:\n    provider: oauth2\n"
                f"    token_url: {endpoint.url}\n    client_id: {endpoint.client_id}\n"
                f"    client_secret: {endpoint.client_secret}\n")
            def connections() -> set[str]:
                return {c["name"] for c in node.connections()}

            with stack(folder, path) as (url, logs):
                measure("AMQP (RabbitMQ OAuth 2.0, update-secret)", url, logs, options, connections)


def redis(options: argparse.Namespace, lifetime: float, label: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with redis_server(folder) as port:
            issuer = PasswordIssuer(folder, port, "svc", lifetime)
            provider = issuer.provider_yaml()
            path = folder / "api-config.yaml"
            path.write_text(
                "secret_key: bench-tokens-secret-key-0123456789\n"
                f"celery:\n  broker_url: redis://svc@127.0.0.1:{port}/0\n"
                f"  result_backend: redis://svc@127.0.0.1:{port}/1\n"
                "  beat_schedule:\n    tick: {task: app.tasks.echo, schedule: 1.0, args: [tick]}\n"
                "credentials:\n  broker_url:\n" + provider + "  result_backend:\n" + provider)
            def connections() -> set[str]:  # the stack's (the benchmark's own administrator left out)
                return {line.split()[0] for line in redis_cli(port, "CLIENT", "LIST").splitlines()
                        if f" user={ADMIN_USER} " not in line}

            with stack(folder, path) as (url, logs):
                measure(label, url, logs, options, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="measured seconds per stack")
    parser.add_argument("--lifetime", type=float, default=15.0, help="seconds each token or password lasts")
    parser.add_argument("--rate", type=float, default=40.0, help="POST /task/ per second")
    options = parser.parse_args()
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)  # the test token endpoint's
    amqp(options)
    redis(options, options.lifetime, "Redis (ACL passwords, AUTH)")
    # The same stack with passwords that outlast the span: the connections it opens anyway.
    redis(options, 3600, "Redis control (passwords of an hour: no refresh in the span)")


if __name__ == "__main__":
    main()
