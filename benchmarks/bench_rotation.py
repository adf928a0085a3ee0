"""Live broker credential rotation across a production-shaped fleet, repeated. One run.

One Kubernetes-style Secret volume (kubelet's ``..data`` layout: the encrypted deployment file and its
master key, swapped together) feeds gunicorn (``--preload``, 2 workers), two Celery workers (prefork,
concurrency 2, Celery's default startup) and beat; this process publishes ``echo`` through an app on the
same volume at 200 tasks/s, or at half of what the stack completes when flooded (measured first) if that
is less: on a saturated stack any pause becomes a backlog that outlasts its window, whatever paused it.
Windows of ``--window`` seconds alternate: a rotation (kubelet swaps the volume to the other RabbitMQ user)
or a control window (nothing changes), at least 20 of each. It reports:

1. from each swap to every process on the new credentials (web and pool processes: their reload; worker
   main processes: their consumer reconnected; beat: its reload): median, p90, p99 (target p99 < 0.5 s);
2. the completed-task throughput dip in each rotation window against the control windows: median and
   p90 (targets: median < 5%, p90 < 10%);
3. ``configsvc fleet --wait`` started at the swap, and ``fleet --watch`` started before it: how long after
   the last worker switched each returned (target for --watch < 0.3 s);
4. what the polling costs: CPU time per process per hour at the default interval (an idle app that
   watches against one that does not);
5. broker connections opened by pre-flight checks per rotation, for 2, 8 and 16 processes watching one
   file (counted at a TCP forwarder in front of RabbitMQ).

Needs the RabbitMQ and Redis of this machine; makes its own users, vhost and Redis ACL user, removes them.
Prints the figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_rotation [--rotations N] [--window S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from configsvc.options import clean_environ
from tests.support.brokers import rabbitmq_user, rabbitmq_vhost, redis_account
from tests.support.http import Forwarder
from tests.support.processes import VENV_BIN, celery_beat, celery_worker, stop_process_group, web_process
from tests.support.reference import run_cli
from tests.support.writers import KubeletVolume

STAMPED = re.compile(r"\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})[:\]]? ?(?:(\w+)/([\w-]+)\]|(\d+)) (.*)")


def gunicorn_logging() -> dict[str, object]:
    """gunicorn's own logging configuration, plus a root logger that stamps milliseconds and the pid
    (gunicorn replaces whole sections of its defaults with what it is given)."""
    import copy

    from gunicorn.glogging import CONFIG_DEFAULTS

    config = copy.deepcopy(CONFIG_DEFAULTS)
    config["formatters"]["stamped"] = {"format": "[%(asctime)s: %(levelname)s/%(process)d] %(message)s"}
    config["handlers"]["stamped"] = {"class": "logging.StreamHandler", "formatter": "stamped",
                                     "stream": "ext://sys.stderr"}
    config["root"] = {"level": "INFO", "handlers": ["stamped"]}  # a reload is an INFO line
    return config


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def secret_version(folder: Path, broker: str, backend: str, name: str) -> dict[str, bytes]:
    work = folder / f"make-{name}"
    work.mkdir()
    path = work / "api-config.yaml"
    path.write_text(f"secret_key: bench-rotation-key\ncelery:\n  broker_url: {broker}\n"
                    f"  result_backend: {backend}\n  beat_schedule:\n"
                    "    tick: {task: app.tasks.echo, schedule: 0.5, args: [tick]}\n")
    assert run_cli("keygen", "--out", str(work / "master.key")).returncode == 0
    assert run_cli("encrypt", str(path)).returncode == 0
    return {"api-config.yaml": path.read_bytes(), "master.key": (work / "master.key").read_bytes()}


def completed_per_second(task: Any, tasks: int) -> float:
    """What the running stack completes when flooded: ``tasks`` published at once, waited for together."""
    from celery.result import ResultSet

    start = time.perf_counter()
    ResultSet([task.delay("x") for _ in range(tasks)]).join_native(timeout=300)
    return tasks / (time.perf_counter() - start)


def switch_times(logs: list[Path], since: float, user: str, until: float = float("inf")) -> dict[str, float]:
    """The first moment from ``since`` to ``until`` each process shows it runs the new settings, by process:
    a worker's main process when its consumer reconnected as ``user``, every other process when it
    reloaded."""
    found: dict[str, float] = {}
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            match = STAMPED.match(line)
            if not match:
                continue
            moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            process = f"{log.stem}:{match.group(3) or match.group(4)}"
            message = match.group(5)
            if moment < since or moment >= until or process in found:
                continue
            consumer = log.stem.startswith("worker") and process.endswith(":MainProcess")
            wanted = (f"connected to the broker at amqp://{user}:" if consumer
                      else "reloaded the configuration")
            if wanted in message:
                found[process] = moment
    return found


def fleet_rotation(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as name, rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as user_a, \
            rabbitmq_user(vhost) as user_b, redis_account() as (r_user, r_password):
        folder = Path(name)
        backend = f"redis://{r_user}:{r_password}@127.0.0.1:6379/6"
        users = [user_a, user_b]
        versions = [secret_version(folder, f"amqp://{u}:{p}@127.0.0.1:5672/{vhost}", backend, str(i))
                    for i, (u, p) in enumerate(users)]
        volume = KubeletVolume(folder / "secret", versions[0])
        env = {"FLASK_CONFIG": str(volume.path("api-config.yaml")), "APP_ENV": "production"}
        os.environ.update(env)
        logging_config = folder / "logging.json"
        logging_config.write_text(json.dumps(gunicorn_logging()))
        logs = [folder / "worker-1.log", folder / "worker-2.log", folder / "beat.log", folder / "web.log"]
        (folder / "web").mkdir()
        with celery_worker(env, cwd=Path("/"), log=logs[0], pool=("--concurrency=2",), default_startup=True,
                           name="one"), \
                celery_worker(env, cwd=Path("/"), log=logs[1], pool=("--concurrency=2",),
                              default_startup=True, name="two"), \
                celery_beat(env, cwd=folder, log=logs[2]), \
                web_process({**env, "GUNICORN_CMD_ARGS": f"--log-config-json {logging_config}"},
                            cwd=folder / "web", log=logs[3], kind="gunicorn"):
            from app import create_app
            from app.tasks import echo

            app = create_app()
            celery = app.extensions["celery"]
            capacity = completed_per_second(echo, options.capacity_tasks)
            load_rate = min(options.rate, options.load_share * capacity)
            published: list[str] = []
            stop = threading.Event()

            def publish() -> None:
                pause, due = 1 / load_rate, time.monotonic()
                while not stop.is_set():
                    due += pause
                    try:
                        with celery.producer_or_acquire() as producer:
                            published.append(echo.apply_async(("x",), producer=producer).id)
                    except Exception:  # a publish caught in the switch: counted as not published
                        pass
                    time.sleep(max(0.0, due - time.monotonic()))

            publisher = threading.Thread(target=publish)
            publisher.start()
            time.sleep(3)  # warm
            windows: list[tuple[str, float]] = []
            switches: list[float] = []
            rotated_to: list[str] = []
            fleet_after: list[float] = []
            fleet_watch_after: list[float] = []
            current = 0
            for number in range(options.rotations * 2):
                start = time.time()
                if number % 2 == 0:  # a rotation window; the next one is a control window
                    current = 1 - current
                    volume.update(versions[current])
                    windows.append(("rotation", start))
                    rotated_to.append(users[current][0])
                else:
                    windows.append(("control", start))
                time.sleep(max(0.0, start + options.window - time.time()))
            stop.set()
            publisher.join()
            # Read the logs only now: parsing them between windows held the GIL long enough to stall the
            # publisher, whose catching up then inflated the control windows that follow.
            rotations = [start for kind, start in windows if kind == "rotation"]
            for start, user in zip(rotations, rotated_to, strict=True):
                found = switch_times(logs, start, user, until=start + options.window)
                missing = 10 - len(found)  # gunicorn master + 2 web, 2 worker main, 4 pool, beat
                switches.extend([moment - start for moment in found.values()] + [float("inf")] * missing)
            time.sleep(3)
            for number in range(options.fleet_rounds * 2):  # quiet: what fleet adds after the last switch
                watch = number % 2 == 1  # --wait started at the swap, and --watch started before it
                current = 1 - current
                fleet = subprocess.Popen(
                    [str(VENV_BIN / "configsvc"), "fleet", *(["--watch"] if watch else []), "--wait", "30",
                     "--expect", "2"],
                    env={**clean_environ(), **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True)
                if watch:
                    assert fleet.stderr is not None and "watching" in fleet.stderr.readline()
                start = time.time()
                volume.update(versions[current])
                fleet.communicate(timeout=60)
                fleet_done = time.time()
                time.sleep(1)
                found = switch_times(logs, start, users[current][0])
                consumers = [moment for process, moment in found.items()
                             if process.startswith("worker") and process.endswith(":MainProcess")]
                if len(consumers) == 2 and fleet.returncode == 0:
                    (fleet_watch_after if watch else fleet_after).append(fleet_done - max(consumers))

            import redis

            client = redis.Redis.from_url(backend)
            done_at: list[float] = []
            for first in range(0, len(published), 1000):
                keys = [f"celery-task-meta-{task_id}" for task_id in published[first:first + 1000]]
                for raw in client.mget(keys):
                    if raw:
                        moment = datetime.fromisoformat(json.loads(raw)["date_done"])
                        done_at.append((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
            client.close()

    def rate(start: float) -> float:
        return sum(1 for t in done_at if start <= t < start + options.window) / options.window

    control = [rate(start) for kind, start in windows if kind == "control"]
    baseline = statistics.median(control)
    dips = [1 - rate(start) / baseline for kind, start in windows if kind == "rotation"]
    control_dips = [1 - value / baseline for value in control]
    print(f"the stack completes {capacity:.0f} tasks/s when flooded; the load is {load_rate:.0f} tasks/s "
          f"(--rate {options.rate:g} at most, {options.load_share:.0%} of that at most)")
    print(f"rotations {options.rotations}, control windows {len(control)}, {options.window:g} s each; "
          f"published {len(published)} at {load_rate:.0f}/s, completed {len(done_at)}; control median "
          f"{baseline:.0f} completed/s")
    print(f"swap -> every process on the new credentials ({len(switches)} process switches: gunicorn "
          f"master + 2 web, 2 worker main + 4 pool, beat, per rotation): "
          f"median {statistics.median(switches):.3f} s, "
          f"p90 {percentile(switches, 0.9):.3f} s, p99 {percentile(switches, 0.99):.3f} s, "
          f"max {max(switches):.3f} s (target p99 < 0.5 s)")
    print(f"throughput dip in rotation windows vs control: median {statistics.median(dips):+.1%}, "
          f"p90 {percentile(dips, 0.9):+.1%} (targets < 5%, < 10%); the control windows themselves vary "
          f"median {statistics.median(control_dips):+.1%}, p90 {percentile(control_dips, 0.9):+.1%}")
    if fleet_after:
        print(f"configsvc fleet --wait --expect 2, started at the swap, returned after the last worker "
              f"switched: median {statistics.median(fleet_after):.3f} s, max {max(fleet_after):.3f} s "
              f"({len(fleet_after)} quiet rotations; its own start is most of it)")
    if fleet_watch_after:
        print(f"configsvc fleet --watch --expect 2, started before the swap, returned after the last worker "
              f"switched: median {statistics.median(fleet_watch_after):.3f} s, "
              f"max {max(fleet_watch_after):.3f} s ({len(fleet_watch_after)} quiet rotations; "
              "target < 0.3 s)")


def polling_cost(seconds: float) -> None:
    """CPU time of an idle app that watches its file every 0.25 s, against one that does not."""
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "api-config.yaml"
        path.write_text("secret_key: x\ncelery:\n  broker_url: memory://\n")
        code = ("import os, sys, time; from app import create_app; create_app(); time.sleep(1); "
                "t = os.times(); time.sleep(float(sys.argv[1])); u = os.times(); "
                "print((u.user + u.system) - (t.user + t.system))")
        costs = {}
        for label, interval in (("watching", "0.25"), ("not watching", "0")):
            done = subprocess.run([sys.executable, "-c", code, str(seconds)], capture_output=True, text=True,
                                  env={**clean_environ(), "FLASK_CONFIG": str(path),
                                       "APP_CONFIG_RELOAD_INTERVAL": interval}, timeout=seconds + 60)
            costs[label] = float(done.stdout.strip().splitlines()[-1])
    per_hour = (costs["watching"] - costs["not watching"]) / seconds * 3600
    print(f"polling cost at the default interval (0.25 s): {per_hour:.2f} s of CPU per process per hour "
          f"({per_hour / 36:.3f}% of one core; measured over {seconds:g} s)")


def preflight_connections(counts: list[int]) -> None:
    """Connections opened at RabbitMQ during one rotation, by N idle processes watching one file."""
    with tempfile.TemporaryDirectory() as name, rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as user_a, \
            rabbitmq_user(vhost) as user_b:
        forwarder = Forwarder(5672)
        forwarder.start()
        folder = Path(name)
        path = folder / "api-config.yaml"

        def point_at(user: tuple[str, str]) -> None:
            new = folder / "next.yaml"
            new.write_text(f"secret_key: x\nconfig_reload_interval: 0.1\ncelery:\n  broker_url: "
                           f"amqp://{user[0]}:{user[1]}@127.0.0.1:{forwarder.port}/{vhost}\n")
            os.replace(new, path)

        users = [user_a, user_b]
        point_at(users[0])
        code = ("import time; from app import create_app; create_app(); print('ready', flush=True); "
                "time.sleep(600)")
        for number, count in enumerate(counts, start=1):
            processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                          env={**clean_environ(), "FLASK_CONFIG": str(path)},
                                          start_new_session=True) for _ in range(count)]
            try:
                for process in processes:
                    assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
                time.sleep(0.5)
                before = forwarder.accepted
                point_at(users[number % 2])
                time.sleep(3)
                opened = forwarder.accepted - before
                print(f"pre-flight: {count:2d} processes watching one file opened {opened} broker "
                      f"connection(s) in one rotation")
            finally:
                for process in processes:
                    stop_process_group(process)
        forwarder.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="tasks published per second, at most (see --load-share)")
    parser.add_argument("--load-share", type=float, default=0.5,
                        help="the load is at most this share of what the stack completes when flooded: a "
                             "saturated stack turns any pause into a backlog the windows cannot drain")
    parser.add_argument("--capacity-tasks", type=int, default=2000,
                        help="tasks of the flood that measures what the stack completes")
    parser.add_argument("--fleet-rounds", type=int, default=8)
    parser.add_argument("--cpu-seconds", type=float, default=30.0)
    options = parser.parse_args()
    fleet_rotation(options)
    polling_cost(options.cpu_seconds)
    preflight_connections([2, 8, 16])


if __name__ == "__main__":
    main()
