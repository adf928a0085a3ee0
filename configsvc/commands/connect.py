"""``configsvc check --connect``: open the broker's and the result backend's connections once.

With the resolved settings and credentials (a provider's included, fetched as every process fetches
them), one connection each, bounded by the configured timeouts (``broker_connection_timeout``;
``redis_socket_connect_timeout`` for a Redis result backend, 4 s when unset). Each outcome is one line
naming the setting, the masked URL and, for a failure, the server's reason (``ACCESS_REFUSED``,
``WRONGPASS``) or why nothing answered (connection refused, timeout, TLS) — never a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from configsvc.core.redaction import mask_url

if TYPE_CHECKING:
    from configsvc.core.config import Config
    from configsvc.credentials.provided import ProvidedCredentials

#: Transports and backends that live in the process or on local disk: nothing to connect to.
EMBEDDED = ("filesystem", "memory", "file", "cache+memory")
DEFAULT_TIMEOUT = 4.0


@dataclass(frozen=True)
class Connected:
    """One setting's outcome: ``ok`` False is a failure (exit 1)."""

    ok: bool
    line: str


def connect_all(config: Config, credentials: ProvidedCredentials | None) -> list[Connected]:
    """Try the broker, then the result backend."""
    from configsvc.commands.broker_app import command_app

    settings = config.celery_settings()
    app = command_app(config, "configsvc-check", credentials)
    try:
        return [_broker(app, settings), _backend(settings, credentials)]
    finally:
        app.close()


def _broker(app: Any, settings: dict[str, Any]) -> Connected:
    from configsvc.celery import acceptance

    url = str(settings.get("broker_url") or "")
    if _scheme(url) in EMBEDDED:
        return Connected(True, f"ok: celery.broker_url {mask_url(url)}: embedded, nothing to connect to")
    timeout = float(settings.get("broker_connection_timeout") or DEFAULT_TIMEOUT)
    try:
        connection = app.connection_for_write(connect_timeout=timeout)
        shown = _shown(url, connection.userid)  # a provider's user, when one gives it
    except Exception as error:  # a URL kombu cannot use; a provider's credential past its expiry
        return _failed("celery.broker_url", mask_url(url), acceptance.answer_of(error), "broker", timeout)
    answer = acceptance.broker(connection, timeout)
    if answer.outcome == "accepted":
        return Connected(True, f"ok: celery.broker_url {shown}: connected")
    return _failed("celery.broker_url", shown, answer, "broker", timeout)


def _backend(settings: dict[str, Any], credentials: ProvidedCredentials | None) -> Connected:
    from configsvc.celery import acceptance

    url = str(settings.get("result_backend") or "")
    shown = mask_url(url)
    scheme = _scheme(url)
    if not url or scheme in EMBEDDED:
        return Connected(True, f"ok: celery.result_backend {shown or '(none)'}: embedded or none, "
                               "nothing to connect to")
    if scheme == "rpc":
        return Connected(True, f"ok: celery.result_backend {shown}: results travel over the broker")
    if scheme not in ("redis", "rediss"):
        return Connected(True, f"ok: celery.result_backend {shown}: not tried (--connect tries Redis "
                               "result backends)")
    timeout = float(settings.get("redis_socket_connect_timeout") or DEFAULT_TIMEOUT)
    managed = credentials.get("result_backend") if credentials is not None else None
    if managed is None:
        answer = acceptance.redis(url, timeout)
    else:
        try:
            current = managed.usable()
        except Exception as error:
            return _failed("celery.result_backend", shown, acceptance.answer_of(error), "result backend",
                           timeout)
        username = current.username or urlsplit(url).username
        answer = acceptance.redis(url, timeout, username, str(current.password.reveal()))
        shown = _shown(url, username)
    if answer.outcome == "accepted":
        return Connected(True, f"ok: celery.result_backend {shown}: connected")
    return _failed("celery.result_backend", shown, answer, "result backend", timeout)


def _failed(key: str, shown: str, answer: Any, what: str, timeout: float) -> Connected:
    if answer.refused:
        why = f"the {what} refused the credentials ({answer.reason})"
    elif answer.outcome == "unusable":
        why = f"the URL cannot be used ({answer.reason})"
    elif answer.reason == "timeout":
        why = f"no answer within {timeout:g} s"
    else:
        why = f"cannot be reached ({answer.reason})"
    return Connected(False, f"error: {key} {shown}: {why}")


def _shown(url: str, username: str | None) -> str:
    """``url`` masked, with ``username`` as its user when it has none (a provider gives it)."""
    parts = urlsplit(url)
    if username and "@" not in parts.netloc:
        url = parts._replace(netloc=f"{username}:***@{parts.netloc}").geturl()
    return mask_url(url)


def _scheme(url: str) -> str:
    return urlsplit(url.split(";")[0]).scheme.lower()
