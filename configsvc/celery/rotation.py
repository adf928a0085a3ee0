"""The worker's rotation step: move the consumer to new broker settings, exactly once.

``RotationStep`` (a consumer bootstep added by :class:`configsvc.celery.FlaskCelery`) listens to the
app's :class:`~configsvc.celery.binding.Binding`. When the broker settings change it asks the consumer's
:class:`~configsvc.celery.switch.Switch` to move: stop taking messages, let every delivery settle on the old
connection, close it with AMQP's close handshake, reconnect with the new settings through Celery's own
reconnect path — same process, nothing lost, nothing run twice. It also makes SIGHUP reload the
configuration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import bootsteps

from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.deliveries import Deliveries
from configsvc.celery.rollout_command import register_rollout_command
from configsvc.celery.status import register_status_command
from configsvc.celery.switch import Switch

if TYPE_CHECKING:
    from celery.worker.consumer import Consumer as CeleryConsumer


class RotationStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Moves the consumer to new broker settings (see :mod:`configsvc.celery.switch`)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    label = "configsvc rotation"

    def __init__(self, c: CeleryConsumer, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.stop_listening: Callable[[], None] | None = None
        # Before the first message: every delivery is counted until it is settled.
        self.switch = Switch(c, Deliveries(c))
        binding = binding_of(c.app)
        if binding is not None and binding.state is not None:
            register_status_command()  # the worker answers configsvc fleet (web processes never load it)
            register_rollout_command()  # and takes configsvc rollout's messages

    def start(self, c: CeleryConsumer) -> None:
        self.switch.connected(c.connection)
        binding = binding_of(c.app)
        if binding is None:
            return
        _take_sighup(binding)
        self.stop_listening = binding.connections.follow_broker(self.switch.request)
        # Settings that changed while the consumer was (re)connecting (mingle waits a second for its
        # neighbours) are switched to at once.
        if binding.connections.consumer_behind():
            self.switch.request()

    def stop(self, c: CeleryConsumer) -> None:
        if self.stop_listening is not None:
            self.stop_listening()
            self.stop_listening = None


def _take_sighup(binding: Binding) -> None:
    """SIGHUP reloads the configuration (Celery's own handler would re-exec the worker)."""
    handler = binding.sighup_handler()
    if handler is None:
        return
    from celery import platforms

    with contextlib.suppress(ValueError, AttributeError):  # not the main thread, or no SIGHUP
        platforms.signals["SIGHUP"] = handler
