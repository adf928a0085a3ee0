"""Doing something when a worker or beat starts for one of our Celery apps (Celery's ``worker_init`` and
``beat_init`` signals, sent in the worker's main process before its pool starts, and in beat)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from configsvc.celery.binding import Binding, binding_of

if TYPE_CHECKING:
    from celery import Celery
    from celery.utils.dispatch import Signal

_connected: weakref.WeakKeyDictionary[Celery, set[str]] = weakref.WeakKeyDictionary()


def when_started(celery: Celery, signal: Signal, name: str, run: Callable[[Binding, Any], None]) -> None:
    """Call ``run(binding, sender)`` when ``signal`` is sent for ``celery`` (bound by then); connected
    once per app and ``name``, without keeping the app alive."""
    names = _connected.setdefault(celery, set())
    if name in names:
        return
    names.add(name)
    reference = weakref.ref(celery)

    def started(sender: Any = None, **_: Any) -> None:
        target = reference()
        binding = binding_of(target)
        if binding is not None and getattr(sender, "app", None) is target:
            run(binding, sender)

    signal.connect(started, weak=False)
