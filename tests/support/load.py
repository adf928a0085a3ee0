"""Load for the rotation tests: ``POST /task/`` from a thread, and the check that every task ran once."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

from tests.support.http import http
from tests.support.processes import wait_for

SUCCEEDED = re.compile(r"Task app\.tasks\.sleep_then_now\[([0-9a-f-]+)\] succeeded")


class Load:
    """Posts ``{"seconds": 0}`` to ``POST /task/`` continuously from a thread; keeps every answer. Leaving
    the block stops it once ``at_least`` requests were posted (a quick rotation still gets a real load)."""

    def __init__(self, url: str, per_second: float = 80, at_least: int = 160) -> None:
        self.url = url
        self.pause = 1 / per_second
        self.at_least = at_least
        self.answers: list[tuple[int, str | None]] = []
        #: When each answer came (wall clock, as the processes' logs stamp it), by task id.
        self.answered_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, failure: type[BaseException] | None, *_: object) -> None:
        deadline = time.monotonic() + (60 if failure is None else 0)
        while len(self.answers) < self.at_least and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(timeout=30)

    def more(self, answers: int) -> None:
        """Wait until ``answers`` more requests were answered (the load runs on meanwhile)."""
        target = len(self.answers) + answers
        wait_for(lambda: len(self.answers) >= target or not self._thread.is_alive(), 60,
                 f"{answers} more answers to the load")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body, _ = http("POST", self.url + "/task/", {"seconds": 0}, timeout=10)
                self.answers.append((status, body.get("task_id")))
                self.answered_at[str(body.get("task_id"))] = time.time()
            except OSError as error:  # a refused or reset request counts as not accepted
                self.answers.append((0, type(error).__name__))
            time.sleep(self.pause)

    @property
    def accepted(self) -> list[str]:
        return [task_id for status, task_id in self.answers if status == 202 and task_id]

    @property
    def refused(self) -> list[tuple[int, str | None]]:
        return [answer for answer in self.answers if answer[0] != 202]


def assert_every_task_ran_once(load: Load, worker_log: Path | list[Path], label: str) -> None:
    """Every accepted task succeeds exactly once (worker log), none is refused; prints the counts."""
    accepted = load.accepted

    logs = worker_log if isinstance(worker_log, list) else [worker_log]

    def ran() -> Counter[str]:
        return Counter(task_id for log in logs for task_id in SUCCEEDED.findall(log.read_text()))

    def missing() -> str:
        done = ran()
        lost = [task_id for task_id in accepted if task_id not in done]
        stamps = ", ".join(f"{task_id} at {stamp(load.answered_at[task_id])}" for task_id in lost[:10])
        return f"every accepted task to succeed ({len(lost)} of {len(accepted)} did not, accepted: {stamps})"

    wait_for(lambda: set(accepted) <= set(ran()), 90, missing, interval=0.5)
    # One task more, through the same app: a duplicate delivered again would run before it (a message the
    # broker delivers again goes back to the head of its queue).
    status, body, _ = http("POST", load.url + "/task/", {"seconds": 0}, timeout=10)
    assert status == 202, body
    marker = str(body["task_id"])
    wait_for(lambda: marker in ran(), 30, "a last task after the load")
    runs = ran()
    runs.pop(marker)
    twice = [task_id for task_id, count in runs.items() if count > 1]
    unknown = set(runs) - set(accepted)
    print(f"\n{label}: posted {len(load.answers)}, accepted {len(accepted)}, refused {len(load.refused)}, "
          f"completed {len(set(accepted) & set(runs))}, ran twice {len(twice)}")
    assert len(accepted) >= load.at_least, f"the load must be at least {load.at_least} tasks"
    assert not load.refused, load.refused[:5]
    assert not twice, twice[:5]
    assert not unknown, list(unknown)[:5]


def stamp(moment: float) -> str:
    """A wall-clock moment as the processes' logs stamp it (``HH:MM:SS,mmm``)."""
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f",{int(moment % 1 * 1000):03d}"


def assert_every_result_stored(load: Load, url: str, label: str) -> None:
    """Every accepted task's result can be read back as SUCCESS through ``GET /task/<id>`` (a task that
    ran while the worker had no result backend, or while it could not reach it, would read PENDING)."""
    states = Counter(http("GET", f"{url}/task/{task_id}")[1].get("state") for task_id in load.accepted)
    print(f"{label}: results read back {dict(states)}")
    assert states == Counter({"SUCCESS": len(load.accepted)}), states


class Publisher:
    """Publishes a task (``app.tasks.echo`` unless told) from a thread at a steady rate, as a broker user of
    its own (a Celery app of its own, straight to the broker), and keeps the task ids."""

    def __init__(self, broker: str, per_second: float = 60, store_results: bool = False,
                 task: str = "app.tasks.echo", args: tuple[object, ...] | None = None) -> None:
        from celery import Celery

        self.app = Celery("pool-test-publisher", broker=broker, set_as_current=False)
        self.app.conf.update(task_serializer="json", broker_connection_timeout=2)
        self.pause = 1 / per_second
        self.task = task
        self.args = args
        self.ignore_result = not store_results
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Publisher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.app.close()

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            args = list(self.args) if self.args is not None else [f"n{number}"]
            result = self.app.send_task(self.task, args=args, ignore_result=self.ignore_result)
            self.sent.append(result.id)
            number += 1
            time.sleep(self.pause)


SUCCEEDED_ECHO = re.compile(r"Task app\.tasks\.echo\[([0-9a-f-]+)\] succeeded")
