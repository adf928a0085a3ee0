"""Live broker credential rotation, repeated, under a continuous stream of tasks. One run.

A real prefork worker (concurrency 2) consumes from RabbitMQ with Redis results; this process is the web
side: the app from ``create_app()`` with its reloader, publishing ``echo`` through the app's producer pool
as fast as it can. Every few seconds the deployment file is replaced atomically, alternating the broker
between two RabbitMQ users. For each rotation it measures:

1. time from the file's replacement to the first task published with the new user (target < 1 s);
2. time from the replacement to the worker's consumer connected as the new user (its log line; < 5 s);
3. the throughput dip: tasks completed (the result's ``date_done``) in the 2 s after the replacement,
   against the steady rate of the same run measured away from rotations (target: dip < 10%).

Needs the RabbitMQ and Redis of this machine; makes its own users, vhost and Redis ACL user, removes them.
Prints the figures; asserts nothing.

    .venv/bin/python benchmarks/bench_rotation.py [--rotations N] [--steady S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.support.brokers import rabbitmq_user, rabbitmq_vhost, redis_account
from tests.support.processes import celery_worker

PROJECT = Path(__file__).resolve().parent.parent


CONNECTED = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): WARNING/MainProcess\] "
                       r"configsvc: connected to the broker at amqp://([^:]+):")
WINDOW = 2.0


def write_file(path: Path, broker: str, backend: str) -> None:
    temporary = path.with_suffix(".new")
    temporary.write_text(f"secret_key: bench-rotation-key\ncelery:\n  broker_url: {broker}\n"
                         f"  result_backend: {backend}\n")
    os.replace(temporary, path)


def worker_switches(log: Path) -> list[tuple[float, str]]:
    """(wall time, user) of every reconnection the worker logged."""
    found = []
    for stamp, user in CONNECTED.findall(log.read_text()):
        found.append((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), user))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=5)
    parser.add_argument("--steady", type=float, default=4.0, help="seconds between rotations")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, rabbitmq_vhost() as vhost, \
            rabbitmq_user(vhost) as user_a, rabbitmq_user(vhost) as user_b, \
            redis_account() as (r_user, r_password):
        root = Path(folder)
        path = root / "api-config.yaml"
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/6"
        brokers = [f"amqp://{u}:{p}@127.0.0.1:5672/{vhost}" for u, p in (user_a, user_b)]
        write_file(path, brokers[0], backend)
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        os.environ.update(env)

        from app import create_app
        from app.tasks import echo

        app = create_app()
        celery = app.extensions["celery"]
        published: list[tuple[float, str, str]] = []  # (wall time, user, task id)

        def publish_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                with celery.producer_or_acquire() as producer:
                    result = echo.apply_async(("x",), producer=producer)
                    published.append((time.time(), producer.connection.userid, result.id))

        worker_log = root / "worker.log"
        rotations: list[tuple[float, str]] = []
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--concurrency=2",)):
            publish_for(2.0)  # warm-up
            for number in range(options.rotations):
                publish_for(options.steady)
                new_user = (user_b, user_a)[number % 2][0]
                rotations.append((time.time(), new_user))
                write_file(path, brokers[(number + 1) % 2], backend)
                publish_for(WINDOW)
            publish_for(options.steady)
            time.sleep(2)
            switches = worker_switches(worker_log)

        import redis

        client = redis.Redis.from_url(backend)
        done_at: list[float] = []
        ids = [task_id for _, _, task_id in published]
        for start in range(0, len(ids), 1000):
            keys = [f"celery-task-meta-{task_id}" for task_id in ids[start:start + 1000]]
            for raw in client.mget(keys):
                if raw:
                    stamp = json.loads(raw)["date_done"]
                    moment = datetime.fromisoformat(stamp)
                    done_at.append((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
        client.close()

    first_publish, worker_switch, dips, publish_dips = [], [], [], []
    steady_start = published[0][0] + 2.0
    in_rotation = [(t0, t0 + WINDOW) for t0, _ in rotations]

    def count(times: list[float], start: float, end: float) -> int:
        return sum(1 for t in times if start <= t < end)

    steady_spans = []
    cursor = steady_start
    for t0, _ in rotations:
        steady_spans.append((cursor, t0))
        cursor = t0 + WINDOW + 1.0
    publish_times = [t for t, _, _ in published]
    steady_seconds = sum(end - start for start, end in steady_spans)
    steady_done = sum(count(done_at, s, e) for s, e in steady_spans) / steady_seconds
    steady_published = sum(count(publish_times, s, e) for s, e in steady_spans) / steady_seconds
    for (t0, user), (start, end) in zip(rotations, in_rotation, strict=True):
        first = next((t for t, used, _ in published if t >= t0 and used == user), None)
        first_publish.append((first - t0) if first is not None else float("nan"))
        switched = next((t for t, used in switches if t >= t0 - 0.01 and used == user), None)
        worker_switch.append((switched - t0) if switched is not None else float("nan"))
        dips.append(1 - count(done_at, start, end) / WINDOW / steady_done)
        publish_dips.append(1 - count(publish_times, start, end) / WINDOW / steady_published)

    print(f"rotations: {len(rotations)}; tasks published {len(published)}, completed {len(done_at)}")
    print(f"steady state: {steady_published:.0f} published/s, {steady_done:.0f} completed/s")
    print("time to first publish with the new user (s): "
          + ", ".join(f"{v:.3f}" for v in first_publish)
          + f"  (median {statistics.median(first_publish):.3f}, max {max(first_publish):.3f}; target < 1)")
    print("time to the worker consuming as the new user (s): "
          + ", ".join(f"{v:.3f}" for v in worker_switch)
          + f"  (median {statistics.median(worker_switch):.3f}, max {max(worker_switch):.3f}; target < 5)")
    print(f"completed-task throughput in the {WINDOW:.0f} s after each replacement vs steady: dip "
          + ", ".join(f"{v:+.1%}" for v in dips)
          + f"  (median {statistics.median(dips):+.1%}, max {max(dips):+.1%}; target < 10%)")
    print("publish throughput in the same windows vs steady: dip "
          + ", ".join(f"{v:+.1%}" for v in publish_dips))


if __name__ == "__main__":
    main()
