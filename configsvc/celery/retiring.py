"""Retiring the connections of old settings without cutting anything in flight.

New broker settings retire the connection pool: idle connections close now, the ones in use (an
in-flight publish) when they come back. A new result backend retires every backend handed out so far:
its idle connections close now, the rest once no longer in use. Until it is closed, each retired pool or
backend is counted under the settings version it was made for (:class:`Counted`, see
:mod:`configsvc.celery.connections`), so the status command does not call the new configuration in use
while an old connection is still open.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from configsvc.celery import celery_internals, kombu_internals, redis_internals

if TYPE_CHECKING:
    from celery import Celery
    from celery.backends.base import Backend
    from redis import ConnectionPool

logger = logging.getLogger("configsvc.celery")

# How long a retired connection pool may keep connections that are in use (an in-flight publish)
# before they are closed, and how long a retired result backend keeps its connections.
RETIRE_GRACE_SECONDS = 30.0
BACKEND_GRACE_SECONDS = 5.0


@dataclass
class Counted:
    """One retired pool or backend, counted under settings version ``version`` in ``counter`` while it
    is open; ``on_closed`` is called once it is closed."""

    counter: collections.Counter[int]
    version: int
    #: Called with True once the connections are closed, False when there were none to close.
    on_closed: Callable[[bool], None] | None = None

    def __post_init__(self) -> None:
        self.counter[self.version] += 1

    def closed(self, switched: bool = True) -> None:
        self.counter[self.version] -= 1
        if self.on_closed is not None:
            self.on_closed(switched)


def retire_pool(celery: Celery, count: Counted) -> None:
    """The next publish opens a new connection; the old pool closes once its connections come back."""
    old = celery_internals.take_broker_pool(celery)
    if old is None:
        count.closed(switched=False)  # nothing was published with the old settings
        return
    kombu_internals.forget_pool(old)
    _in_background(kombu_internals.close_when_idle, old, RETIRE_GRACE_SECONDS, count)


def retire_backends(celery: Celery, issued: Iterable[Backend], count: Callable[[], Counted]) -> None:
    """Every result backend handed out so far is replaced (the next use makes a new one) and closed; one
    still held by code in flight connects with the new settings from now on."""
    celery_internals.drop_backends(celery)
    try:
        successor = celery_internals.backend_redis_pool(celery.backend, create=True)  # the current settings'
    except Exception as error:  # a backend that cannot be built now fails where it is used, not here
        logger.debug("building the current result backend: %s", type(error).__name__)
        successor = None
    for backend in issued:
        _in_background(functools.partial(close_backend, successor=successor), backend, BACKEND_GRACE_SECONDS,
                       count())


def close_backend(backend: Backend, grace: float, successor: ConnectionPool | None = None) -> None:
    """Close a retired result backend's connections: idle ones now, the rest once they are no longer in
    use (at the latest after ``grace`` seconds). ``successor``: the current backend's connection pool,
    as which the retired one's makes and remakes its connections from now on (a closed connection would
    otherwise reconnect with the old credentials when code in flight uses it)."""
    connection_pool = celery_internals.backend_redis_pool(backend, create=successor is not None)
    if connection_pool is None:
        return
    try:
        made = (redis_internals.retarget(connection_pool, successor) if successor is not None
                else redis_internals.every_connection(connection_pool))
        deadline = time.monotonic() + grace  # connections in use (a result being stored) may finish
        while redis_internals.close_idle(connection_pool, made) and time.monotonic() < deadline:
            time.sleep(0.05)
        result_consumer = celery_internals.backend_result_consumer(backend)
        if result_consumer is not None and hasattr(result_consumer, "stop"):
            result_consumer.stop()  # its subscription connection
        redis_internals.close_in_use(connection_pool, made)
    except Exception as error:
        logger.debug("closing a retired result backend: %s", type(error).__name__)


def _in_background(close: Callable[[Any, float], None], old: Any, grace: float, count: Counted) -> None:
    def run() -> None:
        try:
            close(old, grace)
        finally:
            count.closed()

    threading.Thread(target=run, name="configsvc-retire", daemon=True).start()
