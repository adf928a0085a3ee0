"""The worker side of live reload: follow new broker settings without exiting and without losing a task.

``Consumer`` (set as ``worker_consumer`` by :class:`configsvc.celery.placeholder.FlaskCelery`) builds every
broker connection from the *current* settings and keeps retrying, with backoff, when the broker refuses
them — waking at once when a new configuration arrives — instead of retrying the same stale credentials
or exiting on RabbitMQ's ``ACCESS_REFUSED``.

``RotationStep`` watches :attr:`FlaskCelery.broker_generation`. When the broker settings change it stops
taking new messages, lets the tasks in flight finish and acknowledge on the old connection, then
reconnects: nothing is redelivered twice and nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from celery.exceptions import CPendingDeprecationWarning
from celery.worker import state
from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger("configsvc.worker")

TICK_SECONDS = 0.1
FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class BrokerSettingsChanged(ConnectionError):
    """Raised inside the consumer's event loop to make Celery reconnect with the new settings."""

    def __str__(self) -> str:
        return "configsvc: the broker settings changed; reconnecting with the new ones"


def _reloader(app: Any) -> Any:
    flask_app = getattr(app, "_flask_app", None)
    return flask_app.extensions.get("configsvc.reloader") if flask_app is not None else None


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer, connecting with the current settings on every attempt."""

    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        return self._connect_current(lambda: self.app.connection_for_read(heartbeat=heartbeat))

    def connection_for_write(self, url: Any = None, heartbeat: float | None = None) -> Any:
        return self._connect_current(lambda: self.app.connection_for_write(url=url, heartbeat=heartbeat))

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        if not isinstance(exc, BrokerSettingsChanged):
            super().on_connection_error_after_connected(exc)
            return
        # Our own switch: nothing is in flight, so Celery's advice about cancelling tasks on connection
        # loss does not apply; keep the log to the one line that says what happened.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CPendingDeprecationWarning)
            super().on_connection_error_after_connected(exc)

    def _connect_current(self, make: Callable[[], Any]) -> Any:
        first: bool = getattr(self, "first_connection_attempt", True)
        retry_key = self._get_connection_retry_type(first)
        retry = self.app.conf.get(retry_key)
        if retry is None:
            retry = self.app.conf.broker_connection_retry
        delay = FIRST_DELAY
        while True:
            state.maybe_shutdown()
            reloader = _reloader(self.app)
            generation = reloader.generation if reloader is not None else 0
            connection = make()
            try:
                connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            except Exception as error:  # refused, unreachable, or a URL that cannot work: all retried
                _release(connection)
                if not retry:
                    raise
                logger.error(
                    "configsvc: cannot connect to the broker at %s (%s); retrying in %.1f s, or as soon "
                    "as the configuration changes", connection.as_uri(), _describe(error), delay)
                _wait(reloader, generation, delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            if not first:
                logger.warning("configsvc: connected to the broker at %s", connection.as_uri())
            self.first_connection_attempt = False
            self.broker_connection_retry_attempt = 0
            return connection


def _release(connection: Any) -> None:
    try:
        connection.release()
    except Exception as error:  # the broker already dropped it
        logger.debug("releasing a refused connection: %s", type(error).__name__)


def _wait(reloader: Any, generation: int, delay: float) -> None:
    """Sleep ``delay`` seconds in short slices, ending early on shutdown or on a new configuration."""
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        if reloader is not None:
            if reloader.wait_for_change(generation, min(left, 0.5)):
                return
        else:
            time.sleep(min(left, 0.5))
        state.maybe_shutdown()


def _describe(error: BaseException) -> str:
    # Broker errors name hosts and reasons, never passwords; keep one line and a bounded length.
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RotationStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Moves the consumer to new broker settings once the tasks in flight have finished."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    label = "configsvc rotation"

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.entry: Any = None
        self.seen = 0
        self.draining = False

    def start(self, c: Any) -> None:
        self.seen = c.app.broker_generation
        self.draining = False
        _take_sighup(c.app)
        if c.hub is None:  # no event loop (the embedded filesystem broker): nothing to switch in place
            return
        self.entry = c.timer.call_repeatedly(TICK_SECONDS, self.tick, (c,))

    def stop(self, c: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None

    def tick(self, c: Any) -> None:
        generation = c.app.broker_generation
        if generation == self.seen and not self.draining:
            return
        if not self.draining:
            self.draining = True
            self.seen = generation
            consumer = c.task_consumer
            if consumer is not None:
                consumer.cancel()  # no new messages on the old connection
            logger.warning("configsvc: new broker settings; switching once %d task(s) in flight finish",
                           len(state.active_requests) + len(state.reserved_requests))
        if state.active_requests or state.reserved_requests:
            return
        self.draining = False
        raise BrokerSettingsChanged()


def _take_sighup(app: Any) -> None:
    """SIGHUP reloads the configuration (Celery's own handler would re-exec the worker)."""
    reloader = _reloader(app)
    if reloader is None:
        return
    from celery import platforms

    with contextlib.suppress(ValueError, AttributeError):  # not the main thread, or no SIGHUP
        platforms.signals["SIGHUP"] = reloader.sighup_handler()
