"""Does the server accept this credential? One connection, opened and closed, and what it answered.

Every place that asks — a reload about to switch (:mod:`.preflight`), a provider's new credential before
any live connection gets it (:mod:`.renewal`) — asks here, and reads the answer the same way: the
server refused the credential, the URL cannot work, the server could not be reached (which is never a
refusal), or it accepted. The reason is one line with no value in it: the server's own refusal code
(``ACCESS_REFUSED``, ``WRONGPASS``), or what kept the connection from opening.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from configsvc.celery.auth import is_auth_failure

if TYPE_CHECKING:
    from kombu.connection import Connection

Outcome = Literal["accepted", "refused", "unusable", "unreachable"]

# Errors that mean the URL itself is wrong (bad host name, unknown transport), not that the server is down.
_UNUSABLE = (ValueError, LookupError, ImportError, TypeError)
_CODES = ("ACCESS_REFUSED", "WRONGPASS", "NOAUTH", "NOPERM")


@dataclass(frozen=True)
class Answer:
    """What one connection attempt was told."""

    outcome: Outcome
    #: One line, no value: the server's refusal code or the error's type.
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.outcome == "refused"

    @property
    def reached(self) -> bool:
        """The server answered (it accepted or refused)."""
        return self.outcome in ("accepted", "refused")


ACCEPTED = Answer("accepted")

#: The name an AMQP check connection gives itself (``connection_name``, what RabbitMQ's management UI and
#: ``rabbitmqctl list_connections user_provided_name`` show), so that an operator watching connections
#: knows the short one that comes and goes at each refresh or reload.
CHECK_CONNECTION_NAME = "configsvc credential check"


def answer_of(error: BaseException) -> Answer:
    """How to read a failed connection attempt."""
    if is_auth_failure(error):
        text = " ".join(str(e) for e in _chain(error))
        code = next((code for code in _CODES if code in text), None)
        if code is None and "invalid username-password" in text:  # redis-py's words for WRONGPASS
            code = "WRONGPASS"
        return Answer("refused", code or type(error).__name__)
    if isinstance(error, _UNUSABLE) and not isinstance(error, OSError):
        return Answer("unusable", type(error).__name__)
    return Answer("unreachable", _why_unreachable(error))


def _why_unreachable(error: BaseException) -> str:
    """Connection refused, timeout, TLS, a host name not found: in a few words, no value."""
    import socket
    import ssl

    for cause in _chain(error):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return f"TLS: {cause.reason or type(cause).__name__}"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, TimeoutError | socket.timeout) or "timed out" in str(cause).lower():
            return "timeout"
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    return type(error).__name__


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def broker(connection: Connection, timeout: float) -> Answer:
    """Open ``connection`` (a kombu connection, not yet connected) once, then release it. On AMQP it is
    named :data:`CHECK_CONNECTION_NAME`."""
    try:
        if connection.transport.driver_type == "amqp":
            options = dict(connection.transport_options or {})  # the app's own dict stays as it is
            options["client_properties"] = {**options.get("client_properties", {}),
                                            "connection_name": CHECK_CONNECTION_NAME}
            connection.transport_options = options
        connection.ensure_connection(max_retries=0, timeout=timeout)  # type: ignore[no-untyped-call]
    except Exception as error:
        return answer_of(error)
    finally:
        with contextlib.suppress(Exception):
            connection.release()  # type: ignore[no-untyped-call]
    return ACCEPTED


def redis(url: str, timeout: float, username: str | None = None, password: str | None = None) -> Answer:
    """Connect to the Redis at ``url`` (with ``username`` and ``password`` when given: they replace the
    URL's), send ``PING``, close."""
    import redis as redis_py

    options: dict[str, Any] = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    if password is not None:  # redis-py lets a URL's user and password win over the arguments
        parts = urlsplit(url)
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        options.update(username=username, password=password)
    try:
        client = redis_py.Redis.from_url(url, **options)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        return answer_of(error)
    return ACCEPTED
