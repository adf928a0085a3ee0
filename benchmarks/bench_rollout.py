"""How fast a staged rollout's step takes: told to seen running, for 8 workers, against one status round.

Eight solo workers of the test catalog app on a RabbitMQ vhost of their own, ``rollout.mode: staged``.
Each round changes the file, waits until all eight staged it, and runs ``configsvc rollout --canary 8
--steps 100% --bake 0``: the figure is what rollout prints, from telling the step's processes to their
verified status showing every one of them running it (target: at most 1 s). The baseline, measured in the
same run: one verified status round of the same eight workers (what fleet asks), timed in this process.

Needs the RabbitMQ of this machine; makes its own user and vhost. Prints the figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_rollout [--workers N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from configsvc.celery.proof import proof_keys
from configsvc.commands.fleet import ask_workers
from tests import catalog
from tests.support.brokers import rabbitmq_account
from tests.support.processes import celery_worker, wait_for
from tests.support.reference import run_cli

STEP = re.compile(r"run it, ([\d.]+) s after they were told")


def write(path: Path, broker: str, limit: int) -> None:
    path.write_text("secret_key: bench-rollout-secret-key-0123456789\nconfig_reload_interval: 0.05\n"
                    f"rollout: {{mode: staged}}\nfeature: {{limit: {limit}}}\n"
                    f"celery:\n  broker_url: {broker}\n  task_ignore_result: true\n")


def rollout(path: Path, workers: int, *args: str) -> str:
    done = run_cli("--app", "tests.catalog:create_app()", "rollout", "--expect", str(workers), *args,
                   env={"CATALOG_CONFIG": str(path)})
    return done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, rabbitmq_account() as (user, password, vhost), \
            ExitStack() as stack:
        base = Path(folder)
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        path = base / "catalog.yaml"
        write(path, broker, 10)
        env = {"CATALOG_CONFIG": str(path)}
        for number in range(options.workers):
            stack.enter_context(celery_worker(env, cwd=Path("/"), log=base / f"worker-{number}.log",
                                              target="tests.catalog.worker.celery", name=f"w{number}"))
        app = catalog.create_app(env)
        keys = proof_keys(catalog.extensions.config.state(app).config)

        def answered() -> int:
            replies = ask_workers(catalog.extensions.celery, 2.0, options.workers, keys)
            return sum(status["counted"] for status in replies)

        wait_for(lambda: answered() == options.workers, 60, "every worker to answer")
        rounds: list[float] = []
        for _ in range(10):
            started = time.perf_counter()
            answered()
            rounds.append(time.perf_counter() - started)
        steps: list[float] = []
        for number in range(options.rounds):
            write(path, broker, 11 + number)
            def staged() -> bool:
                return rollout(path, options.workers, "--status").count("has it staged") == options.workers

            wait_for(staged, 30, "every worker to stage the change")
            out = rollout(path, options.workers, "--canary", str(options.workers), "--steps", "100%",
                          "--bake", "0")
            found = STEP.search(out)
            if found is None:
                raise SystemExit(f"rollout did not finish: {out}")
            steps.append(float(found.group(1)))
        look = statistics.median(rounds)
        step = statistics.median(steps)
        print(f"bench_rollout: {options.workers} workers (solo), pid {os.getpid()}")
        print(f"  one verified status round (baseline): median {look * 1000:.1f} ms")
        print(f"  a step told to all seen running it: median {step * 1000:.1f} ms (max "
              f"{max(steps) * 1000:.1f} ms) over {len(steps)} rollouts; {step / look:.2f}x the status round; "
              "target at most 1 s")


if __name__ == "__main__":
    main()
