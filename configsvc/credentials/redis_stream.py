"""A provided credential as redis-py's ``StreamingCredentialProvider``, for kombu's Redis transport and
Celery's Redis result backend (both take one: kombu 5.7's ``credential_provider``, Celery 5.6's
``redis_backend_credential_provider``).

redis-py registers one callback per client (``on_next``); each new credential is handed to every
callback still alive as a token whose ``oid`` claim is the user name, and redis-py sends
``AUTH <user> <password>`` on the pooled connections. Callbacks are held weakly: a client that is gone
(a retired pool) is not kept alive by its provider.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.auth.token import TokenInterface
from redis.credentials import StreamingCredentialProvider

from configsvc.credentials import forks
from configsvc.credentials.base import Credential
from configsvc.credentials.refresh import ManagedCredential

if TYPE_CHECKING:
    from celery.backends.base import Backend
    from redis import ConnectionPool

DEFAULT_USER = "default"


class CredentialToken(TokenInterface):
    """One credential in the shape redis-py's streaming re-authentication reads."""

    def __init__(self, credential: Credential, username: str) -> None:
        self._credential = credential
        self._username = username

    def __repr__(self) -> str:
        return f"<CredentialToken {self._username}>"

    def is_expired(self) -> bool:
        return self._credential.expired()

    def ttl(self) -> float:
        expires = self._credential.expires_at
        if expires is None:
            return -1
        return (expires - self._credential.received_at).total_seconds() * 1000

    def try_get(self, key: str) -> str:
        return self._username if key == "oid" else ""

    def get_value(self) -> str:
        return str(self._credential.password.reveal())

    def get_expires_at_ms(self) -> float:
        expires = self._credential.expires_at
        return -1 if expires is None else expires.timestamp() * 1000

    def get_received_at_ms(self) -> float:
        return self._credential.received_at.timestamp() * 1000


class RedisStreamingProvider(StreamingCredentialProvider):
    """The managed credential of one setting, for redis-py. ``url_username`` is kept when the provider
    gives no user."""

    def __init__(self, managed: ManagedCredential, url_username: str | None) -> None:
        self.managed = managed
        self.url_username = url_username
        self._callbacks: list[weakref.WeakMethod[Any] | Callable[[Any], None]] = []
        #: Connection pools made elsewhere with this provider (Celery's result backend builds its pool
        #: itself, so redis-py never registers it): re-authenticated here.
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        forks.follow(self)

    def feeds(self, backend: Backend) -> bool:
        """True when ``backend`` (a Celery Redis result backend) connects with this provider."""
        connparams = getattr(backend, "connparams", None)
        return isinstance(connparams, dict) and connparams.get("credential_provider") is self

    def follow_pool(self, pool: ConnectionPool) -> None:
        """Re-authenticate ``pool``'s connections (a redis-py ``ConnectionPool``) with every new credential:
        ``AUTH`` on each idle one now, on each busy one when it is released (redis-py's own re-auth)."""
        with self._lock:
            self._pools.add(pool)

    def forked(self) -> None:
        """A forked child: a lock of its own (a thread of the parent may have held it at the fork)."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<RedisStreamingProvider for {self.managed.setting}>"

    def username(self, credential: Credential) -> str:
        return credential.username or self.url_username or DEFAULT_USER

    def get_credentials(self) -> tuple[str, str]:
        """At each connect: the current user and password (:class:`CredentialExpired` past its expiry)."""
        current = self.managed.usable()
        return self.username(current), str(current.password.reveal())

    async def get_credentials_async(self) -> tuple[str, str]:
        return self.get_credentials()

    def on_next(self, callback: Callable[[Any], None]) -> None:
        held: Any = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else callback
        with self._lock:
            self._callbacks = [c for c in self._callbacks if not _dead(c)] + [held]

    def on_error(self, callback: Callable[[Exception], None]) -> None:
        """Fetch failures are the refresher's (logged, retried); redis-py is not told."""

    def is_streaming(self) -> bool:
        return True

    def emit(self, credential: Credential) -> int:
        """Hand ``credential`` to every live client and followed pool; how many took it."""
        token = CredentialToken(credential, self.username(credential))
        with self._lock:
            callbacks = list(self._callbacks)
            pools = list(self._pools)
        called = 0
        for pool in pools:
            # A pool this process has not used since a fork holds its parent's connections only: it drops
            # them at its first use here (redis-py checks the pid), and connects with the new credential.
            if getattr(pool, "pid", None) != os.getpid():
                continue
            try:
                pool.re_auth_callback(token)
                called += 1
            except Exception:  # a broken connection reconnects with get_credentials() at its next use
                continue
        for held in callbacks:
            callback = held() if isinstance(held, weakref.WeakMethod) else held
            if callback is None:
                continue
            try:
                callback(token)
                called += 1
            except Exception:  # a pool whose connection broke reconnects with get_credentials()
                continue
        return called


def _dead(held: Any) -> bool:
    return isinstance(held, weakref.WeakMethod) and held() is None
