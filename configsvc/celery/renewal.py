"""Provided credentials on Celery's connections: given at each connect, renewed on the live ones.

- AMQP broker: every connection Celery makes (consumer, publisher pool, events, beat, the status
  command's) is a :class:`~configsvc.celery.kombu_internals.ProvidedConnection` whose password is asked
  for at each connect (kombu 5.7 takes a callable password) and whose user is the provider's. A new
  token for the same user is sent on every open connection as ``connection.update-secret``
  (:mod:`configsvc.celery.amqp_internals`): nothing reconnects. A new user, or a broker that is not
  RabbitMQ 3.8 or later, takes the live switch of a rotation instead (:meth:`Connections.move`).
- Redis broker and Redis result backend: a redis-py streaming credential provider
  (:class:`~configsvc.credentials.redis_stream.RedisStreamingProvider`) given to kombu's transport
  (``credential_provider``) and to Celery's backend (``redis_backend_credential_provider``). redis-py
  sends ``AUTH`` on every idle pooled connection when a credential arrives and on every busy one when it
  is released; kombu's transport does it on its long-lived BRPOP connection at the next idle moment
  (``reauth_check_interval``, 1 s here unless set).

Before any live connection gets a new credential, the process opens one connection of its own with it
and closes it: a credential the server refuses is not taken (a failed refresh: the current one is
kept), since RabbitMQ closes a connection whose update-secret it refuses and Redis would refuse the
connections a pool opens next. A server that cannot be reached for that check is no refusal.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from configsvc.celery import acceptance, amqp_internals, kombu_internals
from configsvc.celery.connections import Connections, Settings
from configsvc.credentials.base import Credential
from configsvc.credentials.provided import ProvidedCredentials
from configsvc.credentials.refresh import ManagedCredential
from configsvc.metrics.recording import record

if TYPE_CHECKING:
    from celery.backends.base import Backend
    from kombu.connection import Connection

    from configsvc.credentials.redis_stream import RedisStreamingProvider

logger = logging.getLogger("configsvc.credentials")

REDIS_SCHEMES = ("redis", "rediss")
#: How often kombu's Redis transport looks for a new credential for its BRPOP connection (its default is
#: 10 s); an app's own ``broker_transport_options.reauth_check_interval`` wins.
REAUTH_CHECK_INTERVAL = 1


class ProvidedPassword:
    """The password kombu asks for at each connect: the provider's current one. Never shown. It also keeps
    the connections it opened (``established``): the ones a new secret is sent on."""

    def __init__(self, managed: ManagedCredential,
                 established: kombu_internals.Established | None = None) -> None:
        self.managed = managed
        self.established: kombu_internals.Established = \
            established if established is not None else weakref.WeakKeyDictionary()

    def __call__(self) -> str:
        return str(self.managed.usable().password.reveal())

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


class Renewal:
    """One app's provided credentials, applied to the Celery app bound to it."""

    def __init__(self, credentials: ProvidedCredentials, settings: dict[str, Any],
                 connections: Connections) -> None:
        self.credentials = credentials
        #: The process's connections: moved to a new user, and asked whether an old one's are closed.
        self.connections = connections
        self._redis: dict[str, RedisStreamingProvider] = {}
        #: The broker connections this renewal's provided password opened (update-secret goes to these).
        self._established: kombu_internals.Established = weakref.WeakKeyDictionary()
        #: update-secret frames sent, and live switches taken, since the start (for tests and benchmarks).
        self.secrets_sent = 0
        self.switches = 0
        self._backend_url = settings.get("result_backend")
        self._settings = settings
        for managed in credentials:
            url = str(settings.get(managed.setting) or "")
            if _scheme(url) in REDIS_SCHEMES:
                from configsvc.credentials.redis_stream import RedisStreamingProvider

                self._redis[managed.setting] = RedisStreamingProvider(managed, urlsplit(url).username)
            managed.check_with(functools.partial(self._refused, managed, url))
            managed.listen(functools.partial(self._renewed, managed))
            managed.on_expiry(functools.partial(self._expired, managed))

    def refused(self, setting: str) -> None:
        """The broker (``broker_url``) or the result backend refused the credentials a connection was
        opened with: when a provider gives them, it is asked for a new one now."""
        managed = self.credentials.get(setting)
        if managed is not None:
            managed.refuse()

    def _expired(self, managed: ManagedCredential, expired: Credential) -> None:
        """No connection is used past a credential's expiry: the ones that use it are moved (closed once
        idle; a worker's consumer ends its connection as in a switch, nothing lost) and every new one
        fails at once (:class:`~configsvc.credentials.base.CredentialExpired`) until a fetch succeeds."""
        self.connections.move(broker=managed.setting == "broker_url",
                              backend=managed.setting == "result_backend")

    def _refused(self, managed: ManagedCredential, url: str, new: Credential) -> str | None:
        """One connection of its own with ``new`` before any live connection gets it: a credential the
        server refuses would close every connection given it (RabbitMQ closes a connection whose
        update-secret it refuses). A server that cannot be reached is no refusal."""
        username = new.username or urlsplit(url.split(";")[0]).username
        password = str(new.password.reveal())
        if _scheme(url) in REDIS_SCHEMES:
            answer = acceptance.redis(url, CHECK_TIMEOUT, username, password)
        else:
            connection = _amqp_connection(url, username, password, self._settings)
            answer = acceptance.broker(connection, CHECK_TIMEOUT)
        if answer.refused:
            where = "result backend" if managed.setting == "result_backend" else "broker"
            return f"the {where} refused the new credential ({answer.reason})"
        return None

    def backend_issued(self, backend: Backend) -> None:
        """A result backend Celery handed out: when its Redis credentials come from a provider, its
        connection pool is renewed in place (``AUTH``) with each new credential. Celery builds that pool
        itself, so redis-py does not register it for re-authentication as it does a client's own."""
        provider = self._redis.get("result_backend")
        if provider is not None and provider.feeds(backend):
            provider.follow_pool(backend.client.connection_pool)

    def backend_settings(self) -> dict[str, Any]:
        """The Celery settings the result backend needs for its provider: the provider, and the URL
        without its user (Celery 5.7 adds a URL's user back after dropping it for a provider, and redis-py
        refuses both; the provider gives the URL's user when it names none)."""
        provider = self._redis.get("result_backend")
        if provider is None:
            return {}
        return {"redis_backend_credential_provider": provider,
                "result_backend": _without_user(str(self._backend_url))}

    def connection(self, connection: Connection) -> Connection:
        """A broker connection Celery just built, given the provider's user and password."""
        managed = self.credentials.get("broker_url")
        if managed is None:
            return connection
        redis = self._redis.get("broker_url")
        if redis is not None:
            connection.credential_provider = redis
            options = connection.transport_options
            options.setdefault("reauth_check_interval", REAUTH_CHECK_INTERVAL)  # type: ignore[union-attr]
            return connection
        connection = kombu_internals.provided(connection)
        connection.password = ProvidedPassword(managed, self._established)
        if managed.current.username:
            connection.userid = managed.current.username
        return connection

    def _renewed(self, managed: ManagedCredential, old: Credential, new: Credential) -> None:
        if old.expired() or managed.refused is old:
            # Its connections were closed (expired) or refused: every one is made anew with the new one,
            # and a consumer waiting to reconnect wakes now.
            logger.info("configsvc: credentials for %s: a new credential after the %s one; connections "
                        "resume", managed.setting, "expired" if old.expired() else "refused")
            self.switches += 1
            record.renewed(managed.setting, managed.provider.name, "switch")
            self.connections.move(broker=managed.setting == "broker_url",
                                  backend=managed.setting == "result_backend")
            return
        if managed.setting in self._redis:
            called = self._redis[managed.setting].emit(new)  # AUTH in place, a new user too
            record.renewed(managed.setting, managed.provider.name, "in_place")
            logger.info("configsvc: credentials for %s renewed in place on %d connection pool(s) (AUTH), "
                        "%.1f ms after the new credential", managed.setting, called, _since(new) * 1000)
            return
        if new.username != old.username:
            logger.info("configsvc: credentials for %s: a new user; switching connections live",
                        managed.setting)
            self.switches += 1
            record.renewed(managed.setting, managed.provider.name, "switch")
            retired = self.connections.current
            self.connections.move(broker=True, backend=False)
            self._release_when_unused(managed, old, retired)
            return
        connections = kombu_internals.open_amqp_connections(self._established)
        if not all(amqp_internals.supports_update_secret(c) for c in connections):
            logger.info("configsvc: credentials for %s: the broker has no update-secret; switching "
                        "connections live", managed.setting)
            self.switches += 1
            record.renewed(managed.setting, managed.provider.name, "switch")
            self.connections.move(broker=True, backend=False)
            return
        secret = str(new.password.reveal())
        sent = sum(amqp_internals.send_update_secret(connection, secret) for connection in connections)
        self.secrets_sent += sent
        record.renewed(managed.setting, managed.provider.name, "in_place")
        logger.info("configsvc: credentials for %s renewed in place on %d connection(s) (update-secret), "
                    "%.1f ms after the new credential", managed.setting, sent, _since(new) * 1000)

    def _release_when_unused(self, managed: ManagedCredential, old: Credential, used: Settings) -> None:
        """Release ``old`` (revoke its lease) once no connection made under ``used`` or older settings is
        open in this process, or it expired: a lease revoked earlier would delete the user under
        connections still finishing their tasks."""
        if old.lease is None:
            return

        def release() -> None:
            self.connections.wait_until_unused(used, timeout=old.seconds_left())
            managed.provider.release(old)

        threading.Thread(target=release, name="configsvc-release", daemon=True).start()

    def retire(self) -> None:
        """The credentials section changed: stop refreshing, and release each credential once the
        connections that use it (made under the current settings) are closed."""
        used = self.connections.current
        self.credentials.stop()
        for managed in self.credentials:
            self._release_when_unused(managed, managed.current, used)

    def close(self) -> None:
        self.credentials.close()


def _since(credential: Credential) -> float:
    """Seconds since the provider answered with ``credential``."""
    return (datetime.now(UTC) - credential.received_at).total_seconds()


def _scheme(url: str) -> str:
    return urlsplit(url.split(";")[0]).scheme.lower()


def _without_user(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


#: Seconds the check of a new credential may take to connect.
CHECK_TIMEOUT = 5.0


def _amqp_connection(url: str, username: str | None, password: str, settings: dict[str, Any]) -> Any:
    """A kombu connection (not opened) to ``url`` as ``username`` with ``password``, with the app's TLS
    and transport options."""
    from kombu.connection import Connection as _Connection

    kombu_connection: Any = _Connection
    connection = kombu_connection(url.split(";")[0], password=password, connect_timeout=CHECK_TIMEOUT,
                                  ssl=settings.get("broker_use_ssl") or False,
                                  transport_options=dict(settings.get("broker_transport_options") or {}))
    if username:
        connection.userid = username
    return connection
