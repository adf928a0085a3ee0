"""The app and worker against Flask's documented Celery pattern (benchmarks/baseline_app.py), one run.

1. Per-task overhead of running in the app context: both tasks' tracers called in-process, as the worker
   calls them (target: configsvc at most the baseline).
2. Throughput of no-op tasks through RabbitMQ with Redis results, prefork concurrency 2 (target: at least
   1.0x the baseline).
3. ``POST /task/`` requests per second under gunicorn (2 workers), RabbitMQ broker (target: at least 0.9x).

Needs the RabbitMQ and Redis of this machine; makes its own user, vhost and Redis ACL user, removes them.
Each comparison runs interleaved rounds (alternating which side goes first) and compares medians.
Prints medians and ratios; asserts nothing.

    .venv/bin/python benchmarks/bench_app.py [--tasks N] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.processes import celery_worker, web_server

PROJECT = Path(__file__).resolve().parent.parent
ROUNDS = 3  # interleaved rounds per comparison; medians are compared



def per_task_overhead(calls: int) -> tuple[float, float]:
    """Microseconds per traced call: (configsvc, baseline)."""
    from celery.app.trace import build_tracer

    from app import create_app
    from app.tasks import echo
    from benchmarks import baseline_app

    create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"}},
               environ={"APP_ENV": "testing"})
    echo.__trace__ = build_tracer(echo.name, echo, app=echo.app, eager=True)
    noop = baseline_app.noop
    noop.__trace__ = build_tracer(noop.name, noop, app=noop.app, eager=True)

    def one_round(task: Any) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            task.__trace__(uuid.uuid4().hex, ("x",), {}, {"delivery_info": {}})
        return (time.perf_counter() - start) / calls * 1e6

    one_round(echo), one_round(noop)  # warm up
    samples: dict[str, list[float]] = {"configsvc": [], "baseline": []}
    for number in range(ROUNDS * 5):  # interleaved, alternating which goes first, so drift hits both
        order = (("configsvc", echo), ("baseline", noop))
        for name, task in order if number % 2 == 0 else reversed(order):
            samples[name].append(one_round(task))
    return statistics.median(samples["configsvc"]), statistics.median(samples["baseline"])


@contextmanager
def _brokers(folder: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Accounts of this run on RabbitMQ and Redis, a deployment file using them, and the environment
    both apps read them from: (deployment file, environment)."""
    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/12"
        config = folder / "api-config.yaml"
        config.write_text(f"celery:\n  broker_url: {broker}\n  result_backend: {backend}\n")
        yield config, {"FLASK_CONFIG": str(config), "BASELINE_BROKER": broker, "BASELINE_BACKEND": backend,
                       "PYTHONPATH": f"{PROJECT}:{PROJECT / 'benchmarks'}"}


def throughput(tasks: int, folder: Path) -> tuple[float, float]:
    """No-op tasks per second end to end: (configsvc, baseline)."""
    from celery.result import ResultSet

    with _brokers(folder) as (config, env):
        runs: dict[str, list[float]] = {"configsvc": [], "baseline": []}
        for number in range(ROUNDS):
            names = ("configsvc", "baseline") if number % 2 == 0 else ("baseline", "configsvc")
            for name in names:
                target = ("worker_entry.celery" if name == "configsvc"
                          else "benchmarks.baseline_app.celery_app")
                with celery_worker(env, cwd=folder, log=folder / f"{name}.log", target=target,
                                   pool=("--pool=prefork", "--concurrency=2")):
                    if name == "configsvc":
                        from app import create_app
                        from app.tasks import echo as task
                        create_app(environ={"FLASK_CONFIG": str(config)})
                    else:
                        os.environ.update(BASELINE_BROKER=env["BASELINE_BROKER"],
                                          BASELINE_BACKEND=env["BASELINE_BACKEND"])
                        import importlib

                        from benchmarks import baseline_app
                        baseline_app = importlib.reload(baseline_app)
                        task = baseline_app.noop
                    task.delay(None).get(timeout=30)  # warm
                    start = time.perf_counter()
                    sent = ResultSet([task.delay(None) for _ in range(tasks)])
                    sent.join(timeout=300, propagate=True)
                    runs[name].append(tasks / (time.perf_counter() - start))
        results = {name: statistics.median(values) for name, values in runs.items()}
    return results["configsvc"], results["baseline"]


def post_rate(seconds: float, folder: Path) -> tuple[float, float]:
    """POST /task/ per second under gunicorn: (configsvc, baseline)."""
    rates: dict[str, list[float]] = {"configsvc": [], "baseline": []}
    with _brokers(folder) as (_config, env), \
            web_server(env, cwd=folder, log=folder / "web-configsvc.log", kind="gunicorn", workers=2,
                       app_spec="app:create_app()") as ours, \
            web_server(env, cwd=folder, log=folder / "web-baseline.log", kind="gunicorn", workers=2,
                       app_spec="benchmarks.baseline_app:flask_app") as baseline:
        urls = {"configsvc": ours, "baseline": baseline}
        for number in range(ROUNDS):  # both servers up; rounds alternate which is loaded first
            names = ("configsvc", "baseline") if number % 2 == 0 else ("baseline", "configsvc")
            for name in names:
                rates[name].append(_load(urls[name], seconds / ROUNDS))
    return statistics.median(rates["configsvc"]), statistics.median(rates["baseline"])


def _load(url: str, seconds: float, clients: int = 4) -> float:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"seconds": 0})
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.monotonic() < stop:
            connection.request("POST", "/task/", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                counts[index] += 1
        connection.close()

    for _ in range(2):  # warm both gunicorn workers
        _one = http.client.HTTPConnection(host, int(port), timeout=10)
        _one.request("POST", "/task/", body, {"Content-Type": "application/json"})
        _one.getresponse().read()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=12, help="POST load, split over the rounds")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    ok = True
    ours, base = per_task_overhead(args.calls)
    ok &= ours <= base
    print(f"per-task app-context overhead (traced call): configsvc {ours:.1f} us, baseline {base:.1f} us, "
          f"ratio {ours / base:.2f}x (target <= 1.00x)")
    with tempfile.TemporaryDirectory() as folder:
        ours, base = throughput(args.tasks, Path(folder))
        ok &= ours >= base
        print(f"throughput, {args.tasks} no-op tasks, RabbitMQ + Redis, concurrency 2: "
              f"configsvc {ours:.0f}/s, baseline {base:.0f}/s, ratio {ours / base:.2f}x (target >= 1.00x)")
        ours, base = post_rate(args.seconds, Path(folder))
        ok &= ours >= 0.9 * base
        print(f"POST /task/ under gunicorn (2 workers, 4 clients, {args.seconds / ROUNDS:.0f} s x {ROUNDS}): "
              f"configsvc {ours:.0f}/s, baseline {base:.0f}/s, ratio {ours / base:.2f}x (target >= 0.90x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
