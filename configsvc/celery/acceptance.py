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
from typing import Any, Literal

from configsvc.celery.auth import is_auth_failure

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


def answer_of(error: BaseException) -> Answer:
    """How to read a failed connection attempt."""
    if is_auth_failure(error):
        text = str(error)
        code = next((code for code in _CODES if code in text), type(error).__name__)
        return Answer("refused", code)
    if isinstance(error, _UNUSABLE) and not isinstance(error, OSError):
        return Answer("unusable", type(error).__name__)
    return Answer("unreachable", type(error).__name__)


def broker(connection: Any, timeout: float) -> Answer:
    """Open ``connection`` (a kombu connection, not yet connected) once, then release it."""
    try:
        connection.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as error:
        return answer_of(error)
    finally:
        with contextlib.suppress(Exception):
            connection.release()
    return ACCEPTED


def redis(url: str, timeout: float, username: str | None = None, password: str | None = None) -> Answer:
    """Connect to the Redis at ``url`` (with ``username`` and ``password`` when given: they replace the
    URL's), send ``PING``, close."""
    import redis as redis_py

    options: dict[str, Any] = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    if password is not None:
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
