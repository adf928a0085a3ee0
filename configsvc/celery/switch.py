"""A worker consumer's move to new broker settings, exactly once: every delivery settled on the old
connection, which then ends with AMQP's close handshake, before the new one consumes.

In the consumer's own loop:

1. **Stop taking messages**: the task consumer is cancelled (``basic.cancel``). A delivery the broker sent
   before its ``cancel-ok`` is dispatched like any other (in the solo pool its task runs inside the
   cancel's wait) and is settled with the rest.
2. **Let every delivery settle**: until each task taken on this connection has run and its
   acknowledgement or rejection is on the wire (:class:`~configsvc.celery.deliveries.Deliveries`).
3. **Restart the consumer** by raising :class:`PlannedSwitch` in its loop: Celery's consumer restarts on a
   connection error and has no other entry point for it. Its handler,
   :meth:`configsvc.celery.consumer.Consumer.on_connection_error_after_connected`, closes the old
   connection with the handshake (the broker processes every acknowledgement sent before its
   ``close-ok``) and keeps the configured prefetch; the restart connects with the current settings.

With an event loop (prefork, solo, threads) step 2 is looked at after each turn of the loop (the hub's
``on_tick``): every acknowledgement written during the turn is seen, and one queued during it is written
on the next turn, which the switch asks for at once (kombu's hub would otherwise wait in its poll). The
exception is raised there, never from a queued callback: it would drop the callbacks queued beside it,
acknowledgements among them. Without one (gevent, eventlet) Celery's blocking loop drains the connection
again and again; the switch looks before each drain (:meth:`Switch.before_drain`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from configsvc.celery import celery_internals, kombu_internals
from configsvc.celery.deliveries import Deliveries

if TYPE_CHECKING:
    from celery.worker.consumer import Consumer as CeleryConsumer
    from kombu.connection import Connection

logger = logging.getLogger("configsvc.worker")

# The longest a blocking drain waits before the loop looks again (gevent, eventlet): a switch asked for
# on an idle connection starts within it.
DRAIN_SECONDS = 0.1


class PlannedSwitch(ConnectionError):
    """Raised in the consumer's loop once the old connection has nothing left to settle: Celery's
    consumer restarts, connecting with the new settings."""

    def __str__(self) -> str:
        return "configsvc: the broker settings changed; reconnecting with the new ones"


class Switch:
    """The switches of one worker consumer (made by its rotation step, one per consumer)."""

    def __init__(self, consumer: CeleryConsumer, deliveries: Deliveries) -> None:
        self.consumer = consumer
        self.deliveries = deliveries
        self._requested = threading.Event()  # without an event loop: read by the draining loop
        self._draining = False

    def connected(self, connection: Connection) -> None:
        """The consumer (re)connected: nothing is being switched; without an event loop, the switch will
        look before each drain of ``connection``."""
        self._draining = False
        self._requested.clear()
        self.deliveries.connected()
        if celery_internals.has_event_loop(self.consumer):  # a switch cut short by an outage ends here
            kombu_internals.stop_after_every_turn(self.consumer.hub, self._after_turn)
        else:
            kombu_internals.wrap_drain_events(connection, self.before_drain)

    def request(self) -> None:
        """Ask for a switch (from any thread: the reloading one, or the loop)."""
        if celery_internals.has_event_loop(self.consumer):
            celery_internals.call_in_loop(self.consumer, self._stop_taking)
        else:
            self._requested.set()

    def _stop_taking(self) -> None:
        """In the event loop: step 1, then step 2 after every turn."""
        if self._draining:
            return
        self._draining = True
        self._cancel()
        kombu_internals.after_every_turn(self.consumer.hub, self._after_turn)

    def _after_turn(self) -> None:
        if self.deliveries.unsettled():
            kombu_internals.run_queued_callbacks_soon(self.consumer.hub)
            return
        kombu_internals.stop_after_every_turn(self.consumer.hub, self._after_turn)
        raise PlannedSwitch()

    def before_drain(self, timeout: float | None) -> float | None:
        """Without an event loop, before each drain of the consuming connection: steps 1 and 2 once a
        switch is asked for, then step 3. Returns the timeout to drain with (short, so a request is seen
        at once on an idle connection)."""
        if self._requested.is_set():
            if not self._draining:
                self._draining = True
                self._cancel()
            if not self.deliveries.unsettled():
                self._requested.clear()
                raise PlannedSwitch()
            return DRAIN_SECONDS
        return DRAIN_SECONDS if timeout is None else min(timeout, DRAIN_SECONDS)

    def _cancel(self) -> None:
        celery_internals.stop_taking_messages(self.consumer)  # no new messages on the old connection
        logger.debug("configsvc: new broker settings; switching once %d delivery(ies) are settled",
                     self.deliveries.unsettled())
