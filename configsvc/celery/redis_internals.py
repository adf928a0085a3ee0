"""redis-py's connection pool from the inside: a retired result backend's pool moved to new settings.

A retired Redis result backend may still be held by code in flight (a task that took ``app.backend`` just
before a switch stores its result just after), and redis-py reconnects a closed connection with the
credentials it was made with. So retiring the backend's pool is not only closing it: from then on it must
make, and remake, every connection with the new settings. configsvc changes what redis-py keeps to itself
for that (redis-py 5 to 8): ``ConnectionPool._lock``, ``_available_connections``, ``_in_use_connections``
and ``connection_kwargs``, and the attributes a ``Connection`` reconnects with (:data:`RETARGETED`), which
redis-py sets from the pool's keyword arguments of the same names.
"""

from __future__ import annotations

from typing import Any

#: What a connection connects with that new settings may change.
RETARGETED = ("host", "port", "db", "username", "password", "credential_provider", "client_name")


def retarget(pool: Any, successor: Any) -> set[int]:
    """From now on ``pool`` makes its connections as the ``successor`` pool does, and the ones it made
    before reconnect that way. Returns the ids of those made before (see :func:`close_idle`); nothing is
    retargeted when the successor makes another kind of connection (TLS or not, a Unix socket)."""
    kwargs = dict(successor.connection_kwargs)
    with pool._lock:
        made = [*pool._available_connections, *pool._in_use_connections]
        if successor.connection_class is pool.connection_class:
            pool.connection_kwargs = kwargs
            for connection in made:
                for name in RETARGETED:
                    if name in kwargs and hasattr(connection, name):
                        setattr(connection, name, kwargs[name])
        return {id(connection) for connection in made}


def every_connection(pool: Any) -> set[int]:
    with pool._lock:
        return {id(connection) for connection in [*pool._available_connections, *pool._in_use_connections]}


def close_idle(pool: Any, made: set[int]) -> int:
    """Close the connections of ``made`` that are idle now (taken from the pool under its lock, so none
    is handed out meanwhile); how many of them are in use."""
    with pool._lock:
        for connection in pool._available_connections:
            if id(connection) in made:
                connection.disconnect()
        return sum(1 for connection in pool._in_use_connections if id(connection) in made)


def close_in_use(pool: Any, made: set[int]) -> None:
    """Close the connections of ``made`` that are still in use (their next command reconnects)."""
    with pool._lock:
        in_use = [connection for connection in pool._in_use_connections if id(connection) in made]
    for connection in in_use:
        connection.disconnect()
