"""Short-lived credentials: a provider gives a Celery URL its user and password, refreshed before they
expire and renewed on the live connections::

    celery:
      broker_url: amqp://rabbit.internal:5672/prod   # no password: the provider gives it
    credentials:
      broker_url:
        provider: command
        command: ["/usr/local/bin/mq-token", "--audience", "rabbitmq"]

Built-in providers: ``command``, ``oauth2``, ``aws_iam``, ``python``; an app registers its own with
:func:`register_provider` (a :class:`CredentialProvider` subclass).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configsvc.lazy import lazy_exports

if TYPE_CHECKING:
    from configsvc.credentials.base import (
        Credential,
        CredentialExpired,
        CredentialProvider,
        FetchFailed,
        register_provider,
    )

__all__ = ["Credential", "CredentialExpired", "CredentialProvider", "FetchFailed", "register_provider"]

_LAZY = dict.fromkeys(__all__, "configsvc.credentials.base")

__getattr__ = lazy_exports(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
