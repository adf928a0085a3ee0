"""Many live switches under steady load, in every worker pool: nothing lost, nothing run twice. One run.

Per pool (prefork, solo, threads, gevent, eventlet): a worker (Celery's default startup; concurrency 2
except solo) consumes ``soak.count`` tasks that a publisher of its own sends at a steady rate; each task
counts its runs in Redis (``benchmarks/counting_worker.py``), so a task run twice reads 2 whatever any log
says. Every ``--interval`` seconds the deployment file moves the worker to the other of two RabbitMQ
users, ``--switches`` times; after each switch RabbitMQ is asked until no connection of the user the
worker left remains (a switch whose old connection outlives ``--settle`` seconds is counted as
"lingering"). Then the publisher stops and every published task is waited for.

It prints, per pool: published, lost (never run), run twice, lingering, and the switch time (the file
written → the worker's "switched to the new broker credentials" line: median, p90, max). Target: 0 lost,
0 twice in every pool.

Needs the RabbitMQ and Redis of this machine; makes its own users and vhost and its own Redis hash,
removes them. Prints the figures; asserts nothing (the exit code is 1 when a task was lost or ran twice).

    .venv/bin/python -m benchmarks.soak_rotation [--pools solo,threads] [--switches 20] [--rate 25]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.support.brokers import rabbitmq_connection_users, rabbitmq_user, rabbitmq_vhost
from tests.support.load import Publisher
from tests.support.processes import celery_worker

POOLS = ("prefork", "solo", "threads", "gevent", "eventlet")
REDIS = "redis://127.0.0.1:6379/9"
SWITCHED = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] "
                      r"configsvc: switched to the new broker credentials")


@dataclass
class Outcome:
    pool: str
    published: int = 0
    lost: int = 0
    twice: int = 0
    lingering: int = 0
    switches: int = 0
    switch_seconds: list[float] = field(default_factory=list)

    def line(self) -> str:
        times = sorted(self.switch_seconds) or [float("nan")]
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
        median, most = statistics.median(times) * 1000, times[-1] * 1000
        return (f"{self.pool:9} published {self.published:5}  lost {self.lost}  run twice {self.twice}  "
                f"switches {self.switches:3} (lingering {self.lingering})  switch time median "
                f"{median:6.0f} ms, p90 {p90 * 1000:6.0f} ms, max {most:6.0f} ms")


def write(path: Path, broker: str) -> None:
    replacement = path.with_name("next.yaml")
    replacement.write_text(f"secret_key: soak-rotation-secret-key\nconfig_reload_interval: 0.1\ncelery:\n"
                           f"  broker_url: {broker}\n")
    os.replace(replacement, path)


def switch_moments(log: Path) -> list[float]:
    return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for stamp in SWITCHED.findall(log.read_text(errors="replace"))]


def soak(pool: str, options: argparse.Namespace, folder: Path) -> Outcome:
    import redis

    outcome = Outcome(pool)
    rate = options.rate
    runs = f"configsvc-soak-{os.getpid()}-{secrets.token_hex(3)}"
    counts = redis.Redis.from_url(REDIS)
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as first, rabbitmq_user(vhost) as second, \
            rabbitmq_user(vhost) as (publisher, publisher_pw):
        url = "amqp://{}:{}@127.0.0.1:5672/" + vhost
        path = folder / f"{pool}.yaml"
        log = folder / f"{pool}.log"
        write(path, url.format(*first))
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production", "SOAK_REDIS": REDIS}
        concurrency = () if pool == "solo" else ("--concurrency=2",)

        def counted() -> dict[str, int]:
            return {key.decode(): int(value) for key, value in counts.hgetall(runs).items()}

        with celery_worker(env, cwd=Path(__file__).resolve().parent.parent, log=log,
                           target="benchmarks.counting_worker.celery",
                           pool=(f"--pool={pool}", *concurrency), default_startup=True, name=pool):
            with Publisher(url.format(publisher, publisher_pw), per_second=rate, task="soak.count",
                           args=(runs,)) as load:
                users = [first, second]
                for number in range(1, options.switches + 1):
                    time.sleep(options.interval)
                    left, joined = users[(number - 1) % 2], users[number % 2]
                    written = time.time()
                    write(path, url.format(*joined))
                    deadline = time.monotonic() + options.settle
                    while len(switch_moments(log)) < number or left[0] in rabbitmq_connection_users(vhost):
                        if time.monotonic() > deadline:
                            outcome.lingering += 1
                            break
                        time.sleep(0.05)
                    moments = switch_moments(log)
                    if len(moments) >= number:
                        outcome.switch_seconds.append(max(0.0, moments[number - 1] - written))
                outcome.switches = len(switch_moments(log))
            sent = list(load.sent)
            deadline = time.monotonic() + options.drain
            while set(sent) - set(counted()) and time.monotonic() < deadline:
                time.sleep(0.5)
        ran = counted()
        counts.delete(runs)
        outcome.published = len(sent)
        outcome.lost = len(set(sent) - set(ran))
        outcome.twice = sum(1 for value in ran.values() if value > 1)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default=",".join(POOLS), help="comma-separated (default: all five)")
    parser.add_argument("--switches", type=int, default=20, help="live switches per pool (default 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between switches")
    parser.add_argument("--rate", type=float, default=25.0, help="tasks published a second")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds a switch may take before it counts as lingering")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last tasks")
    options = parser.parse_args()
    print(f"soak_rotation: {options.switches} switches per pool, one every {options.interval:g} s, "
          f"{options.rate:g} tasks/s")
    failed = False
    with tempfile.TemporaryDirectory(prefix="soak-") as name:
        for pool in options.pools.split(","):
            outcome = soak(pool.strip(), options, Path(name))
            print(outcome.line(), flush=True)
            failed |= bool(outcome.lost or outcome.twice or outcome.lingering)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
