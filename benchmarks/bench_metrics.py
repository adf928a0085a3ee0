"""What metrics cost: enabled against disabled, one run.

1. Per-task overhead: the worker's traced call of a task (bench_app's per-task figure), in fresh
   interpreters, alternately with metrics enabled and disabled (target: enabled at most 1.02x disabled).
2. ``POST /task/`` requests per second under gunicorn (2 workers), RabbitMQ broker, a server with metrics
   enabled against one without, interleaved rounds (target: at least 0.98x).
3. Memory after ``create_app()``: RSS and whether prometheus_client was imported, disabled and enabled
   (target: disabled imports nothing of it).

Needs the RabbitMQ and Redis of this machine (2.); makes its own user, vhost and Redis ACL user. Prints the
figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_metrics [--processes N] [--calls N] [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.bench_app import _brokers, _load
from benchmarks.timing import interleaved, ratio_summary
from tests.support.processes import web_server

PROJECT = Path(__file__).resolve().parent.parent
ROUNDS = 5


def traced_call(enabled: bool, calls: int, rounds: int) -> float:
    """In this process: the median microseconds of the reference app's traced ``echo`` call."""
    from celery.app.trace import build_tracer

    from app import create_app
    from app.tasks import echo

    create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"},
                "metrics": {"enabled": enabled}}, environ={"APP_ENV": "testing"})
    task = echo.app.tasks[echo.name]
    task.__trace__ = build_tracer(task.name, task, app=task.app, eager=True)
    ids = [uuid.uuid4().hex for _ in range(calls)]

    def one_round() -> float:
        start = time.perf_counter()
        for task_id in ids:
            task.__trace__(task_id, ("x",), {}, {"delivery_info": {}})
        return (time.perf_counter() - start) / calls * 1e6

    one_round()  # warm up
    return statistics.median(one_round() for _ in range(rounds))


def per_task(processes: int, calls: int, rounds: int) -> str:
    samples: dict[bool, list[float]] = {True: [], False: []}
    for number in range(processes * 2):
        enabled = number % 2 == (number // 2) % 2  # on, off, off, on, on, off, ...: neither always first
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_metrics", "--traced-call",
                               "on" if enabled else "off", "--calls", str(calls), "--rounds", str(rounds)],
                              capture_output=True, text=True, check=True, cwd=PROJECT)
        samples[enabled].append(json.loads(done.stdout.strip().splitlines()[-1]))
    on, off = statistics.median(samples[True]), statistics.median(samples[False])
    return (f"per-task overhead (traced call), {processes} fresh processes each: metrics enabled "
            f"{on:.2f} us, disabled {off:.2f} us, ratio {on / off:.3f}x (target <= 1.02x)")


def post_rate(seconds: float, rounds: int) -> str:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with _brokers(folder) as (_config, env), \
                web_server({**env, "APP_METRICS__ENABLED": "true"}, cwd=folder, log=folder / "web-on.log",
                           kind="gunicorn", workers=2) as enabled, \
                web_server(env, cwd=folder, log=folder / "web-off.log", kind="gunicorn",
                           workers=2) as disabled:
            samples = interleaved(rounds, {"on": lambda: _load(enabled, seconds / rounds),
                                           "off": lambda: _load(disabled, seconds / rounds)})
    on, off = samples["on"], samples["off"]
    return (f"POST /task/ under gunicorn (2 workers, 4 clients, {seconds / rounds:.0f} s x {rounds}): "
            f"metrics enabled {statistics.median(on):.0f}/s, disabled {statistics.median(off):.0f}/s, ratio "
            f"{ratio_summary(on, off)} (target >= 0.98x)")


def memory() -> str:
    code = ("import re, sys\nfrom app import create_app\n"
            "create_app({'metrics': {'enabled': sys.argv[1] == 'on'}}, environ={'APP_ENV': 'testing'})\n"
            "rss = re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
            "print(rss, 'prometheus_client' in sys.modules)")
    found = {}
    for state in ("off", "on"):
        rss: list[int] = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", code, state], capture_output=True, text=True,
                                 check=True, cwd=PROJECT).stdout.split()
            rss.append(int(out[0]))
        found[state] = (statistics.median(rss) / 1024, out[1])
    return (f"RSS after create_app(): disabled {found['off'][0]:.1f} MB (prometheus_client imported: "
            f"{found['off'][1]}), enabled {found['on'][0]:.1f} MB (imported: {found['on'][1]})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=30, help="POST load, split over the rounds")
    parser.add_argument("--traced-call", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traced_call:  # one process of the per-task comparison
        print(json.dumps(traced_call(args.traced_call == "on", args.calls, args.rounds)))
        return 0
    print(per_task(args.processes, args.calls, args.rounds))
    print(memory())
    print(post_rate(args.seconds, ROUNDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
