"""Beat follows rotation: after new broker settings, the next scheduled task goes out on a new connection.

Celery beat keeps one broker connection (and one producer on it) for as long as it runs, with the
credentials it started with; it does not go through the worker's consumer. When this app's broker settings
change, the scheduler's connection is dropped before its next tick, so the next publish connects with the
current settings — and beat keeps running when the old credential is revoked.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from celery.signals import beat_init

from configsvc.celery import celery_internals
from configsvc.celery.binding import Binding
from configsvc.celery.process_start import when_started

if TYPE_CHECKING:
    from celery import Celery
    from celery.beat import Scheduler

logger = logging.getLogger("configsvc.beat")

def follow_rotation_in_beat(celery: Celery) -> None:
    """When beat starts for ``celery``, make its scheduler reconnect after broker changes (once per app)."""
    when_started(celery, beat_init, "follow rotation", _follow_in)


def _follow_in(binding: Binding, beat: Any) -> None:
    follow(beat.scheduler, binding)
    if binding.state is not None and binding.state.reloader is not None:
        binding.state.reloader.staging.never_hears()  # beat takes no part in a staged rollout


def follow(scheduler: Scheduler, binding: Binding) -> None:
    """Wrap the scheduler's ``tick`` so it drops its connection after the binding's broker settings
    changed (the listener only sets a flag: beat's own tick does the work, in beat's thread)."""
    changed = threading.Event()
    binding.connections.follow_broker(changed.set)
    tick = scheduler.tick

    def tick_following_rotation(*args: Any, **kwargs: Any) -> Any:
        if changed.is_set():
            changed.clear()
            celery_internals.drop_beat_connection(scheduler)
            logger.info("configsvc: new broker settings; beat publishes with them from now on")
        return tick(*args, **kwargs)

    scheduler.tick = tick_following_rotation
