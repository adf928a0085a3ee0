"""The worker's rotation step: move the consumer to new broker settings once the tasks in flight finish.

``RotationStep`` (a consumer bootstep added by :class:`configsvc.celery.FlaskCelery`) watches
``broker_generation``. When the broker settings change it stops taking new messages, lets the tasks in
flight finish and acknowledge on the old connection, then reconnects through Celery's own reconnect path:
same process, nothing redelivered twice, nothing lost. It also makes SIGHUP reload the configuration.

Celery runs the consumer in one of two loops. With an event loop (prefork, solo and threads on AMQP or
Redis) the step's timer runs inside the loop, and the switch is raised there. Without one (gevent and
eventlet, and transports that cannot poll) the loop blocks in ``drain_events``; the step then only asks,
and the consumer's connection does the switch from inside the loop, between two drains (see
:meth:`configsvc.celery.consumer.Consumer.switch_between_drains`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import bootsteps
from celery.worker import state

from configsvc.celery import celery_internals
from configsvc.flask.state import ConfigState

logger = logging.getLogger("configsvc.worker")

TICK_SECONDS = 0.05


class BrokerSettingsChanged(ConnectionError):
    """Raised inside the consumer's event loop to make Celery reconnect with the new settings."""

    def __str__(self) -> str:
        return "configsvc: the broker settings changed; reconnecting with the new ones"


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
        # The generation the consumer connected with: a change that arrived while it was starting
        # (mingle waits a second for its neighbours) is switched to at the first tick.
        self.seen = getattr(c, "connected_generation", c.app.broker_generation)
        self.draining = False
        _take_sighup(c.app)
        self.entry = c.timer.call_repeatedly(TICK_SECONDS, self.tick, (c,))

    def stop(self, c: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None

    def tick(self, c: Any) -> None:
        generation = c.app.broker_generation
        if generation == self.seen and not self.draining:
            return
        if c.hub is None:  # no event loop: the consumer's connection switches between two drains
            self.seen = generation
            c.switch_requested = True
            return
        if not self.draining:
            self.draining = True
            self.seen = generation
            consumer = c.task_consumer
            if consumer is not None:
                consumer.cancel()  # no new messages on the old connection
            logger.debug("configsvc: new broker settings; switching once %d task(s) in flight finish",
                         len(state.active_requests) + len(state.reserved_requests))
        if state.active_requests or state.reserved_requests:
            return
        self.draining = False
        raise switching(c)


def switching(c: Any) -> BrokerSettingsChanged:
    """Prepare the consumer's restart for a planned switch; the exception to raise in its loop."""
    celery_internals.skip_mingle_once(c)  # the same worker switching settings, not a new one joining
    c.configsvc_switching = True  # the consumer's next connection is a planned switch (INFO)
    return BrokerSettingsChanged()


def _take_sighup(app: Any) -> None:
    """SIGHUP reloads the configuration (Celery's own handler would re-exec the worker)."""
    live: ConfigState | None = getattr(app, "config_state", None)
    handler = live.sighup_handler() if live is not None else None
    if handler is None:
        return
    from celery import platforms

    with contextlib.suppress(ValueError, AttributeError):  # not the main thread, or no SIGHUP
        platforms.signals["SIGHUP"] = handler
