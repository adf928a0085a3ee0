"""Beat follows rotation: after new broker settings, the next scheduled task goes out on a new connection.

Celery beat keeps one broker connection (and one producer on it) for as long as it runs, with the
credentials it started with; it does not go through the worker's consumer. When this app's broker settings
change, the scheduler's connection is dropped before its next tick, so the next publish connects with the
current settings — and beat keeps running when the old credential is revoked.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from celery.signals import beat_init

from configsvc.celery import celery_internals
from configsvc.celery.binding import Binding, binding_of

if TYPE_CHECKING:
    from celery import Celery
    from celery.beat import Scheduler

logger = logging.getLogger("configsvc.beat")

_followed: weakref.WeakSet[Celery] = weakref.WeakSet()


def follow_rotation_in_beat(celery: Celery) -> None:
    """When beat starts for ``celery``, make its scheduler reconnect after broker changes (once per app)."""
    if celery in _followed:
        return
    _followed.add(celery)
    reference = weakref.ref(celery)

    def on_beat_init(sender: Any = None, **_: Any) -> None:
        target = reference()
        binding = binding_of(target)
        if binding is not None and getattr(sender, "app", None) is target:
            follow(sender.scheduler, binding)

    beat_init.connect(on_beat_init, weak=False)


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
