"""Every use of kombu's private parts, in one place. Checked against kombu 5.7.0.

kombu keeps one global connection pool (and one producer pool on it) per broker URL in
``kombu.pools.connections`` / ``kombu.pools.producers``; a Celery app's ``pool`` is that global pool. A
rotation or a rebinding retires it: it must leave the registries first, or the next user of the same URL
gets a closed pool ("Acquire on closed pool").
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

from kombu import pools
from kombu.connection import Connection, ConnectionPool, PooledConnection

logger = logging.getLogger("configsvc.celery")


def forget_pool(pool: Any) -> None:
    """Take ``pool`` (and the producer pool built on it) out of kombu's global registries."""
    for group in (pools.connections, pools.producers):
        # Registry keys are stored already hashed (kombu.pools.PoolGroup.__missing__), so entries are
        # found by value and removed with dict's own __delitem__ (PoolGroup's would hash the key again).
        for key, registered in list(group.items()):
            if registered is pool or getattr(registered, "connections", None) is pool:
                dict.__delitem__(group, key)


def pool_in_use(pool: Any) -> bool:
    """True while a connection of ``pool`` is acquired (``Resource._dirty``: handed out, not back)."""
    return bool(getattr(pool, "_dirty", None))


def close_pool(pool: Any) -> None:
    """Close every connection of a retired pool, acquired or not."""
    try:
        pool.force_close_all()
    except Exception as error:  # a connection the broker already dropped
        logger.debug("closing a retired broker pool: %s", type(error).__name__)


def wrap_drain_events(connection: Any, before: Callable[[float | None], float | None]) -> None:
    """Make ``connection.drain_events(timeout=...)`` call ``before(timeout)`` first, and drain with the
    timeout it returns (it may raise instead). An instance attribute over ``Connection.drain_events``."""
    drain = connection.drain_events

    def drain_events(timeout: float | None = None, **kwargs: Any) -> Any:
        return drain(timeout=before(timeout), **kwargs)

    connection.drain_events = drain_events


def after_every_turn(hub: Any, callback: Callable[[], None]) -> None:
    """Call ``callback()`` after each turn of the event loop ``hub``: once the callbacks that were ready
    and the timers that were due have run, before it waits for its sockets again (``Hub.on_tick``)."""
    hub.on_tick.add(callback)


def stop_after_every_turn(hub: Any, callback: Callable[[], None]) -> None:
    hub.on_tick.discard(callback)


def run_queued_callbacks_soon(hub: Any) -> None:
    """Make the loop's next wait return at once when callbacks are queued (``Hub._ready``).

    kombu's hub does not wake itself for a callback queued from its own thread (``call_soon`` wakes it
    only from another): one queued while a turn runs — an acknowledgement Celery queued for a task that
    just finished — waits until a socket has news or the next timer is due, up to a second. The hub's own
    waker (``Hub._waker``, a socket pair it polls) is how another thread wakes it."""
    waker = getattr(hub, "_waker", None)
    if hub._ready and waker is not None:
        waker.wake()


def close_when_idle(pool: Any, grace: float) -> None:
    """Close a retired pool once none of its connections is in use (or after ``grace`` seconds)."""
    deadline = time.monotonic() + grace
    while pool_in_use(pool) and time.monotonic() < deadline:
        time.sleep(0.05)
    close_pool(pool)


class _Tracked(Connection):
    def _establish_connection(self) -> Any:  # kombu's private hook for every (re)connect
        password = self.password  # a provided password: clones and pooled connections share it
        managed = getattr(password, "managed", None)
        if managed is not None:  # the provider's user now: a new one since this connection was built
            username = managed.usable().username
            if username:
                self.userid = username
        connection = super()._establish_connection()  # type: ignore[no-untyped-call]
        if self.transport.driver_type == "amqp":
            from configsvc.celery import amqp_internals

            amqp_internals.prepare(connection)
        established = getattr(password, "established", None)
        if established is not None:
            established[self] = os.getpid()
        return connection


class ProvidedConnection(_Tracked):
    """A kombu connection whose user and password come from a credential provider (see
    :mod:`configsvc.celery.renewal`). Made by turning the connection Celery builds into this class
    (``provided``); its clones are of this class too (``Connection.clone`` builds ``self.__class__``),
    and so are the connections of its pool (``Pool``, whose connections are kombu's ``PooledConnection``).
    Each py-amqp connection any of them opens is prepared for update-secret and kept track of by its
    password (:class:`configsvc.celery.renewal.ProvidedPassword`'s ``established``)."""

    def Pool(self, limit: int | None = None, **kwargs: Any) -> ConnectionPool:
        return _ProvidedPool(self, limit=limit, **kwargs)  # type: ignore[no-untyped-call]


class _ProvidedPooledConnection(_Tracked, PooledConnection):
    pass


class _ProvidedPool(ConnectionPool):
    def new(self) -> Any:  # as kombu's ConnectionPool.new, of the tracked class
        return _ProvidedPooledConnection(  # type: ignore[no-untyped-call]
            self, **dict(self.connection._info(resolve=False)))


def provided(connection: Connection) -> ProvidedConnection:
    """``connection`` as a :class:`ProvidedConnection` (same object, nothing reconnected)."""
    connection.__class__ = ProvidedConnection
    return connection  # type: ignore[return-value]


#: The connections a provider's password opened, and the process that opened each: a forked child
#: inherits its parent's sockets, and must never write on them.
Established = weakref.WeakKeyDictionary[Connection, int]


def open_amqp_connections(established: Established) -> list[Any]:
    """The py-amqp connections of the kombu connections in ``established`` that this process opened and
    that are open now."""
    found, pid = [], os.getpid()
    for connection, owner in list(established.items()):
        if owner != pid:
            continue
        inner = connection.__dict__.get("_connection")
        if inner is not None and getattr(inner, "connected", False):
            found.append(inner)
    return found
