"""A web process's part in ``configsvc fleet`` and ``configsvc rollout`` (``rollout.mode: staged``).

Celery's remote control is for workers. Its protocol is kombu's mailbox, and a kombu mailbox node can be
anyone: a web process in staged mode runs one of its own, named ``web-<pid>@<host>``, in a daemon thread
with a connection of its own (never a request's). It answers ``configsvc_status`` (with the requests it
served and how many got a 5xx, which rollout compares as it compares a worker's failed tasks) and takes
``configsvc_rollout``'s messages, exactly as a worker does. A gunicorn worker starts it as soon as it is one
(found through gunicorn's worker object, :mod:`configsvc.flask.gunicorn_internals`: at ``init_app``
without ``--preload``, shortly after the fork with it); any other server's process at its first request
(the processes that serve are the ones that count; gunicorn's master with ``--preload`` never serves). It
reconnects when the broker settings change or the connection drops.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.proof import STATUS_COMMAND
from configsvc.celery.rollout_command import take_message
from configsvc.celery.status import answer_status
from configsvc.flask.gunicorn_internals import arbiter_pid
from configsvc.rollout.messages import ROLLOUT_COMMAND

if TYPE_CHECKING:
    from celery import Celery
    from flask import Flask, Response

logger = logging.getLogger("configsvc.rollout")

DRAIN_SECONDS = 1.0  # how often the thread looks whether the broker settings changed
RETRY_SECONDS = 2.0  # after a failed connection


class WebListener:
    """One web process's mailbox node, and the requests it counted."""

    def __init__(self, celery: Celery) -> None:
        self._celery = weakref.ref(celery)
        self.hostname = f"web-{os.getpid()}@{socket.gethostname()}"
        self.served = 0
        self.errors = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="configsvc-rollout-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def counted(self, response: Response) -> Response:
        """An ``after_request`` hook: one more request served (Flask calls it for a 500 too)."""
        self.served += 1
        if response.status_code >= 500:
            self.errors += 1
        return response

    def _binding(self) -> Binding | None:
        celery = self._celery()
        return binding_of(celery) if celery is not None else None

    def _status(self, _state: Any, nonce: str | None = None, **_: Any) -> dict[str, Any] | None:
        binding = self._binding()
        if binding is None:
            return None
        return answer_status(binding, self.hostname, nonce, {"served": self.served, "failed": self.errors})

    def _rollout(self, _state: Any, message: Any = None, **_: Any) -> dict[str, Any] | None:
        binding = self._binding()
        return take_message(binding, self.hostname, message) if binding is not None else None

    def _run(self) -> None:
        while not self._stopped.is_set():
            celery = self._celery()
            if celery is None:
                return
            broker = str(celery.conf.broker_url or "")
            try:
                with celery.connection_for_write() as connection:
                    handlers = {STATUS_COMMAND: self._status, ROLLOUT_COMMAND: self._rollout}
                    node = celery.control.mailbox.Node(self.hostname, handlers=handlers,
                                                       channel=connection.default_channel)
                    consumer = node.listen()
                    del celery  # the thread must not keep the app alive
                    try:
                        while not self._stopped.is_set() and self._same_broker(broker):
                            try:
                                connection.drain_events(timeout=DRAIN_SECONDS)
                            except TimeoutError:
                                continue
                    finally:
                        consumer.cancel()
            except Exception as error:  # the broker is away or refuses: try again, quietly
                logger.debug("configsvc: the rollout listener's connection failed (%s)", type(error).__name__)
                self._stopped.wait(RETRY_SECONDS)

    def _same_broker(self, broker: str) -> bool:
        celery = self._celery()
        return celery is not None and str(celery.conf.broker_url or "") == broker


def listen_in_web_processes(app: Flask, celery: Celery) -> None:
    """In staged mode, give each web process that serves ``app`` a listener: a gunicorn worker from its
    start, any other at its first request."""
    started: dict[int, WebListener] = {}
    lock = threading.Lock()

    def first_request() -> None:
        pid = os.getpid()
        if pid in started:
            return
        with lock:
            if pid in started:
                return
            binding = binding_of(celery)
            if binding is None or binding.state is None:
                return
            listener = WebListener(celery)
            started.clear()  # a forked child drops its parent's
            started[pid] = listener
            binding.state.hears_rollout = True
            listener.start()

    def counted(response: Response) -> Response:
        listener = started.get(os.getpid())
        return listener.counted(response) if listener is not None else response

    app.before_request(first_request)
    app.after_request(counted)
    if arbiter_pid() is not None:
        first_request()  # a gunicorn worker built the app itself (no --preload): it serves
    else:
        _after_fork.add(first_request)  # with --preload, each worker once gunicorn made it one


#: The starters of web processes' listeners to run in a forked child once it is a gunicorn worker.
_after_fork: weakref.WeakSet[Callable[[], None]] = weakref.WeakSet()
FORK_LOOK_SECONDS = 0.05
FORK_LOOK_LIMIT = 10.0  # gunicorn installs its worker's signals right after the fork


def _look_after_fork() -> None:
    """In a forked child: start the listeners once gunicorn made the process its worker (a Celery pool
    process, or any other child, never becomes one: the thread ends after :data:`FORK_LOOK_LIMIT`)."""
    starters = list(_after_fork)
    if not starters:
        return

    def look() -> None:
        deadline = time.monotonic() + FORK_LOOK_LIMIT
        while time.monotonic() < deadline:
            if arbiter_pid() is not None:
                for start in starters:
                    start()
                return
            time.sleep(FORK_LOOK_SECONDS)

    threading.Thread(target=look, name="configsvc-rollout-fork", daemon=True).start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_look_after_fork)
