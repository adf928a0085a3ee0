"""The worker's consumer: every broker connection is made from the *current* settings.

``Consumer`` (set as ``worker_consumer`` by :class:`configsvc.celery.FlaskCelery`) keeps retrying, with
backoff, when the broker refuses or cannot be reached — waking at once when a new configuration arrives —
instead of retrying the same stale credentials or exiting on RabbitMQ's ``ACCESS_REFUSED``. Switching
to new settings while connected is :mod:`configsvc.celery.switch`'s job; the consumer ends the old
connection of a planned switch (:meth:`Consumer.on_connection_error_after_connected`) and tells the
binding's :class:`~configsvc.celery.connections.Connections` which settings each new one is made under.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery.worker import state
from celery.worker.consumer import Consumer as CeleryConsumer

from configsvc.celery import celery_internals, kombu_internals, pidbox_internals
from configsvc.celery.auth import is_auth_failure
from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.connections import Settings
from configsvc.celery.switch import PlannedSwitch

if TYPE_CHECKING:
    from kombu.connection import Connection

logger = logging.getLogger("configsvc.worker")

FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer, connecting with the current settings on every attempt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The prefetch count the worker started with: what a planned switch keeps, also when an earlier
        #: outage left it lowered (Celery's own ceiling, pool size x multiplier, can be lower: a solo pool
        #: starts at concurrency x multiplier).
        self.configured_prefetch_count = self.initial_prefetch_count
        pidbox_internals.stop_green_pidbox_sooner(self)  # gevent, eventlet: a switch need not wait 1 s

    def connection_for_read(self, heartbeat: float | None = None) -> Connection:
        def make() -> Any:
            binding = binding_of(self.app)
            if binding is not None:
                self._making = binding.connections.current  # read before the settings are
            return self.app.connection_for_read(heartbeat=heartbeat)

        connection: Connection = self._connect_current(make, announce=self._consuming)
        return connection

    def connect(self) -> Connection:
        """The consuming connection (the green pidbox opens another with ``connection_for_read``): the
        one whose reconnects and switches are announced."""
        self._consuming = True
        self._making = None
        try:
            connection: Connection = super().connect()
        finally:
            self._consuming = False
        binding = binding_of(self.app)
        if binding is not None and self._making is not None:
            binding.connections.consumer_connected(self._making)
        return connection

    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Connection:
        """The events connection (Celery's Events step, the only caller), opened after the consuming one:
        not announced again. In Celery's blocking loop (gevent, eventlet) it is read without waiting."""
        connection: Connection = self._connect_current(
            lambda: self.app.connection_for_write(url=url, heartbeat=heartbeat), announce=False)
        if not celery_internals.has_event_loop(self):
            # The blocking loop drains this connection after every message it takes, to read the broker's
            # heartbeats, and waits up to 0.1 s there when none came (celery.worker.loops.synloop's
            # _quick_drain, Celery 5.7): about 10 messages a second per worker, whatever its concurrency.
            # A heartbeat that came is read all the same without the wait.
            kombu_internals.wrap_drain_events(connection, _read_without_waiting)
        return connection

    #: True after a planned switch until the next connection: it is announced at INFO, not as a recovery.
    _planned = False
    #: The settings the connection being made is made under (read before it connects).
    _making: Settings | None = None
    _consuming = False

    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        if not isinstance(exc, PlannedSwitch):
            super().on_connection_error_after_connected(exc)
            return
        # Our own switch, with every delivery settled: the old connection ends with the close handshake,
        # the prefetch stays as configured, and nothing is logged as an outage (the line that says what
        # happened is ours, at INFO, once connected).
        self._planned = True
        celery_internals.close_after_planned_switch(self)
        celery_internals.skip_mingle_once(self)  # the same worker switching settings, not a new one joining

    def _connect_current(self, make: Callable[[], Any], announce: bool) -> Any:
        """Connect with the current settings, retrying as the class says; ``announce`` logs the connection
        when it is not the worker's first (a reconnect or a switch: the line the runbooks wait for)."""
        first = celery_internals.is_first_connection(self)
        retry = celery_internals.retry_setting(self)
        delay = FIRST_DELAY
        while True:
            state.maybe_shutdown()
            binding = binding_of(self.app)
            generation = binding.config_generation() if binding is not None else 0
            moves = binding.connections.current.number if binding is not None else 0
            connection = make()
            try:
                connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            except Exception as error:  # refused, unreachable, or a URL that cannot work: all retried
                _release(connection)
                if not retry:
                    raise
                if binding is not None and binding.renewal is not None and is_auth_failure(error):
                    binding.renewal.refused("broker_url")  # a provider's credential: a new one now
                logger.error(
                    "configsvc: cannot connect to the broker at %s (%s); retrying in %.1f s, or as soon "
                    "as the configuration changes", connection.as_uri(), _describe(error), delay)
                _wait(binding, generation, delay, moved_from=moves)
                delay = min(delay * 2, MAX_DELAY)
                continue
            if announce and not first:
                if self._planned:  # INFO, one line
                    logger.info("configsvc: switched to the new broker credentials: connected to the broker "
                                "at %s", connection.as_uri())
                else:  # back after an outage or a refusal: worth a warning
                    logger.warning("configsvc: connected to the broker at %s", connection.as_uri())
            if announce:
                self._planned = False
            celery_internals.mark_connected(self)
            return connection


#: How long a read of the events connection waits in the blocking loop: a timeout (not 0, which makes the
#: socket non-blocking and py-amqp would drop a frame it read in part; on a timeout it keeps it).
EVENTS_READ_SECONDS = 0.001


def _read_without_waiting(timeout: float | None) -> float:
    return EVENTS_READ_SECONDS


def _release(connection: Any) -> None:
    try:
        connection.release()
    except Exception as error:  # the broker already dropped it
        logger.debug("releasing a refused connection: %s", type(error).__name__)


def _wait(binding: Binding | None, generation: int, delay: float, moved_from: int) -> None:
    """Sleep ``delay`` seconds in short slices, ending early on shutdown, on a new configuration or when
    the connections moved (a provider's new credential after one expired or was refused)."""
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        if binding is not None and binding.connections.current.number != moved_from:
            return
        if binding is not None and binding.state is not None:
            if binding.wait_for_config_change(generation, min(left, 0.5)):
                return
        else:
            time.sleep(min(left, 0.5))
        state.maybe_shutdown()


def _describe(error: BaseException) -> str:
    # Broker errors name hosts and reasons, never passwords; keep one line and a bounded length.
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
