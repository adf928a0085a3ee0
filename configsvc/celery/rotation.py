"""The worker's rotation step: move the consumer to new broker settings once the tasks in flight finish.

``RotationStep`` (a consumer bootstep added by :class:`configsvc.celery.FlaskCelery`) listens to the
app's :class:`~configsvc.celery.binding.Binding`. When the broker settings change, it stops taking new
messages, lets the tasks in flight finish and acknowledge on the old connection, then reconnects through
Celery's own reconnect path: same process, nothing redelivered twice, nothing lost. It also makes SIGHUP
reload the configuration.

Celery runs the consumer in one of two loops. With an event loop (prefork, solo and threads on AMQP or
Redis) the binding's listener hands :meth:`RotationStep.begin_switch` to the loop (kombu's
``call_soon`` wakes it from the reloading thread), and the switch happens there once the tasks in flight
are done. Without one (gevent and eventlet, and transports that cannot poll) the loop blocks in
``drain_events``; the listener then only asks, and the consumer's connection switches from inside the
loop, between two drains (:meth:`configsvc.celery.consumer.Consumer.switch_between_drains`). Either way
the switch is one exception raised in the consumer's loop: a connection error is how Celery's consumer
is told to reconnect (:class:`BrokerSettingsChanged`; Celery has no other entry point for it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from celery import bootsteps

from configsvc.celery import celery_internals, in_flight
from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.status import register_status_command

logger = logging.getLogger("configsvc.worker")

# While draining for a switch: how often the step looks whether the tasks in flight have finished.
DRAIN_CHECK_SECONDS = 0.05


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
        self.stop_listening: Callable[[], None] | None = None
        self.draining = False
        in_flight.track_finishing(c)  # before the first message: acknowledgements still to come
        binding = binding_of(c.app)
        if binding is not None and binding.state is not None:
            register_status_command()  # the worker answers configsvc fleet (web processes never load it)

    def start(self, c: Any) -> None:
        self.draining = False
        binding = binding_of(c.app)
        if binding is None:
            return
        _take_sighup(binding)
        binding.consumer_generations = lambda: getattr(c, "connected_generations", None)
        self.stop_listening = binding.on_broker_change(lambda: self.request_switch(c))
        # Settings that changed while the consumer was (re)connecting (mingle waits a second for its
        # neighbours) are switched to at once.
        connected = getattr(c, "connected_generations", binding.generations())  # another consumer class
        if connected[0] != binding.broker_generation:
            self.request_switch(c)

    def stop(self, c: Any) -> None:
        if self.stop_listening is not None:
            self.stop_listening()
            self.stop_listening = None

    def request_switch(self, c: Any) -> None:
        """Ask the consumer to switch (called in the reloading thread, after new broker settings)."""
        if celery_internals.has_event_loop(c):
            celery_internals.call_in_loop(c, self.begin_switch, c)
        else:  # Celery's blocking loop: the consumer's connection switches between two drains
            c.switch_requested = True

    def begin_switch(self, c: Any) -> None:
        """In the event loop: stop taking messages, then switch once the tasks in flight are done."""
        if self.draining:
            return
        self.draining = True
        celery_internals.stop_taking_messages(c)  # no new messages on the old connection
        logger.debug("configsvc: new broker settings; switching once %d task(s) in flight finish",
                     in_flight.tasks_in_flight(c))
        self.finish_switch(c)

    def finish_switch(self, c: Any) -> None:
        if not self.draining:  # the consumer restarted meanwhile (with the new settings)
            return
        if in_flight.tasks_in_flight(c):
            celery_internals.call_later_in_loop(c, DRAIN_CHECK_SECONDS, self.finish_switch, c)
            return
        self.draining = False
        raise switching(c)


def switching(c: Any) -> BrokerSettingsChanged:
    """Prepare the consumer's restart for a planned switch; the exception to raise in its loop."""
    celery_internals.skip_mingle_once(c)  # the same worker switching settings, not a new one joining
    c.configsvc_switching = True  # the consumer's next connection is a planned switch (INFO)
    return BrokerSettingsChanged()


def _take_sighup(binding: Binding) -> None:
    """SIGHUP reloads the configuration (Celery's own handler would re-exec the worker)."""
    handler = binding.sighup_handler()
    if handler is None:
        return
    from celery import platforms

    with contextlib.suppress(ValueError, AttributeError):  # not the main thread, or no SIGHUP
        platforms.signals["SIGHUP"] = handler
