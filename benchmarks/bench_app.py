"""The app and worker against Flask's documented Celery pattern (benchmarks/baseline_app.py) and bare
Celery without Flask (benchmarks/bare_celery.py), one run.

1. Per-task overhead of running in the app context: both tasks' tracers called in-process, as the worker
   calls them (target: configsvc at most 1.00x the baseline).
2. Throughput of no-op tasks through RabbitMQ with Redis results, prefork concurrency 2 (targets: at least
   1.00x the baseline, at least 0.97x bare Celery).
3. ``POST /task/`` requests per second under gunicorn (2 workers), RabbitMQ broker (target: at least
   1.00x the baseline).

Needs the RabbitMQ and Redis of this machine; makes its own user, vhost and Redis ACL user, removes them.
Each comparison runs interleaved rounds (rotating which side goes first); ratios are the median of the
per-round ratios, with their quartiles. Prints medians and ratios; asserts nothing.

    .venv/bin/python -m benchmarks.bench_app [--tasks N] [--seconds S] [--calls N]
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.timing import interleaved, ratio_summary
from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.processes import celery_worker, web_server

PROJECT = Path(__file__).resolve().parent.parent
ROUNDS = 5  # interleaved rounds of the throughput and POST comparisons
WARM_TASKS = 50
PROCESSES = 5  # fresh interpreters for the per-task comparison



def per_task_overhead(calls: int, rounds: int) -> tuple[list[float], list[float]]:
    """Microseconds per traced call, one sample per round: (configsvc, baseline)."""
    from celery.app.trace import build_tracer

    from app import create_app
    from app.tasks import echo
    from benchmarks import baseline_app

    create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"}},
               environ={"APP_ENV": "testing"})
    # the task objects themselves, as the worker's registry holds them (``echo`` is Celery's lazy proxy)
    echo = echo.app.tasks[echo.name]
    echo.__trace__ = build_tracer(echo.name, echo, app=echo.app, eager=True)
    noop = baseline_app.noop.app.tasks[baseline_app.noop.name]
    noop.__trace__ = build_tracer(noop.name, noop, app=noop.app, eager=True)
    ids = [uuid.uuid4().hex for _ in range(calls)]

    def one_round(task: Any) -> float:
        trace = task.__trace__
        start = time.perf_counter()
        for task_id in ids:
            trace(task_id, ("x",), {}, {"delivery_info": {}})
        return (time.perf_counter() - start) / calls * 1e6

    one_round(echo), one_round(noop)  # warm up
    samples = interleaved(rounds, {"configsvc": lambda: one_round(echo), "baseline": lambda: one_round(noop)})
    return samples["configsvc"], samples["baseline"]


def per_task_in_fresh_processes(processes: int, calls: int, rounds: int) -> str:
    """The per-task comparison in ``processes`` fresh interpreters, one after another: the ratio moves by
    a few percent from one process to the next (where objects land in memory), more than between rounds
    in one process, so one process is one sample. Reports the median ratio and every process's."""
    ratios, ours, base = [], [], []
    for _ in range(processes):
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_app", "--per-task-only", "--calls",
                               str(calls), "--rounds", str(rounds)], capture_output=True, text=True,
                              check=True, cwd=PROJECT)
        medians = json.loads(done.stdout.strip().splitlines()[-1])
        ours.append(medians["ours"])
        base.append(medians["base"])
        ratios.append(medians["ours"] / medians["base"])
    each = ", ".join(f"{ratio:.3f}" for ratio in ratios)
    return (f"per-task app-context overhead (traced call), {processes} processes x {rounds} rounds: "
            f"configsvc {statistics.median(ours):.1f} us, baseline {statistics.median(base):.1f} us, "
            f"median ratio {statistics.median(ratios):.3f}x (each process: {each}) (target <= 1.00x)")


@contextmanager
def _brokers(folder: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Accounts of this run on RabbitMQ and Redis, a deployment file using them, and the environment
    both apps read them from: (deployment file, environment)."""
    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/12"
        # A file per phase: the app an earlier phase built in this process still watches its own.
        config = Path(tempfile.mkdtemp(dir=folder)) / "api-config.yaml"
        config.write_text(f"celery:\n  broker_url: {broker}\n  result_backend: {backend}\n")
        # Both apps without Flask's debug mode (configsvc's development settings turn it on; it pretty-prints
        # every JSON response).
        yield config, {"FLASK_CONFIG": str(config), "APP_DEBUG": "false", "BASELINE_BROKER": broker,
                       "BASELINE_BACKEND": backend}


TARGETS = {"configsvc": "worker_entry.celery", "baseline": "benchmarks.baseline_app.celery_app",
           "bare": "benchmarks.bare_celery.celery_app"}


def throughput(tasks: int, folder: Path, rounds: int) -> dict[str, list[float]]:
    """No-op tasks per second end to end, one sample per round for each side."""
    from celery.result import ResultSet

    with _brokers(folder) as (config, env):
        os.environ.update(BASELINE_BROKER=env["BASELINE_BROKER"], BASELINE_BACKEND=env["BASELINE_BACKEND"])
        from app import create_app
        from app.tasks import echo
        from benchmarks import bare_celery, baseline_app

        create_app(environ={"FLASK_CONFIG": str(config)})
        baseline_app = importlib.reload(baseline_app)
        bare_celery = importlib.reload(bare_celery)
        tasks_by_side = {"configsvc": echo, "baseline": baseline_app.noop, "bare": bare_celery.noop}

        def run(name: str) -> float:
            with celery_worker(env, cwd=folder, log=folder / f"{name}.log", target=TARGETS[name],
                               pool=("--pool=prefork", "--concurrency=2")):
                task = tasks_by_side[name]
                # warm: enough tasks that both pool processes have run some
                ResultSet([task.delay(None) for _ in range(WARM_TASKS)]).join(timeout=30, propagate=True)
                start = time.perf_counter()
                sent = ResultSet([task.delay(None) for _ in range(tasks)])
                sent.join(timeout=300, propagate=True)
                return tasks / (time.perf_counter() - start)

        return interleaved(rounds, {name: (lambda name=name: run(name)) for name in TARGETS})


def post_rate(seconds: float, folder: Path, rounds: int) -> tuple[list[float], list[float]]:
    """POST /task/ per second under gunicorn, one sample per round: (configsvc, baseline)."""
    with _brokers(folder) as (_config, env), \
            web_server(env, cwd=folder, log=folder / "web-configsvc.log", kind="gunicorn", workers=2,
                       app_spec="app:create_app()") as ours, \
            web_server(env, cwd=folder, log=folder / "web-baseline.log", kind="gunicorn", workers=2,
                       app_spec="benchmarks.baseline_app:flask_app") as baseline:
        samples = interleaved(rounds, {"configsvc": lambda: _load(ours, seconds / rounds),
                                       "baseline": lambda: _load(baseline, seconds / rounds)})
    return samples["configsvc"], samples["baseline"]


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
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per throughput round")
    parser.add_argument("--seconds", type=float, default=30, help="POST load, split over the rounds")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=41, help="rounds of the per-task comparison")
    parser.add_argument("--processes", type=int, default=PROCESSES,
                        help="fresh processes the per-task comparison runs in")
    parser.add_argument("--per-task-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.per_task_only:  # one process of the per-task comparison: its medians as JSON
        ours, base = per_task_overhead(args.calls, args.rounds)
        print(json.dumps({"ours": statistics.median(ours), "base": statistics.median(base)}))
        return 0
    print(per_task_in_fresh_processes(args.processes, args.calls, args.rounds))
    with tempfile.TemporaryDirectory() as folder:
        rates = throughput(args.tasks, Path(folder), ROUNDS)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        print(f"throughput, {args.tasks} no-op tasks (after {WARM_TASKS} to warm up), RabbitMQ + Redis, "
              f"concurrency 2: configsvc "
              f"{medians['configsvc']:.0f}/s, baseline {medians['baseline']:.0f}/s, bare Celery "
              f"{medians['bare']:.0f}/s;\n  configsvc/baseline "
              f"{ratio_summary(rates['configsvc'], rates['baseline'])} (target >= 1.00x); configsvc/bare "
              f"{ratio_summary(rates['configsvc'], rates['bare'])} (target >= 0.97x)")
        ours, base = post_rate(args.seconds, Path(folder), ROUNDS)
        print(f"POST /task/ under gunicorn (2 workers, 4 clients, {args.seconds / ROUNDS:.0f} s x {ROUNDS}): "
              f"configsvc {statistics.median(ours):.0f}/s, baseline {statistics.median(base):.0f}/s, "
              f"ratio {ratio_summary(ours, base)} (target >= 1.00x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
