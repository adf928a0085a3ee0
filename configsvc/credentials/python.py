"""``provider: python`` — anything else, from the app's own code: ``factory: "package.module:function"``.

The factory is called once with the provider's ``options`` (a dict) and returns either a redis-py
``CredentialProvider`` (redis-entraid's Entra ID provider is one) or a callable that returns
``(username, password, expires_at)`` each time it is called (``expires_at`` an aware ``datetime``, a
POSIX timestamp, or None).

A redis-py provider is asked for its credentials (``get_credentials()``) at each refresh. A streaming one
(redis-entraid's) renews its token on its own schedule and says so through ``on_next``: the expiry of the
token it last announced is the credential's, and a credential whose expiry is not known yet is asked for
again every minute, so a renewed token reaches the connections well before the old one expires.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kombu.utils.imports import symbol_by_name
from redis.credentials import CredentialProvider as RedisCredentialProvider
from redis.credentials import StreamingCredentialProvider

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed, expiry_from
from configsvc.errors import ConfigError, Problem

#: Seconds between two questions to a redis-py provider whose token's expiry is not known.
REDIS_PROVIDER_RECHECK = 60.0


class PythonProvider(CredentialProvider):
    name = "python"
    required = ("factory",)
    optional = ("options",)

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        super().__init__(setting, options, environ)
        self.factory_name = str(self.options["factory"])
        try:
            factory = symbol_by_name(self.factory_name)  # type: ignore[no-untyped-call]
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(Problem(f"cannot import {self.factory_name} ({type(error).__name__})",
                                      kind="config", key=f"{self.key}.factory")) from None
        try:
            made = factory(dict(self.options.get("options") or {}))
        except Exception as error:
            raise ConfigError(Problem(f"{self.factory_name} failed ({type(error).__name__})", kind="config",
                                      key=f"{self.key}.factory")) from None
        self._announced: Any = None
        if _is_redis_provider(made):
            self.recheck_without_expiry = REDIS_PROVIDER_RECHECK
            if isinstance(made, StreamingCredentialProvider):
                made.on_next(self._announce)
            self._get: Callable[[], Any] = functools.partial(self._from_redis_provider, made)
        elif callable(made):
            self._get = made
        else:
            raise ConfigError(Problem(
                f"{self.factory_name} returned neither a redis-py CredentialProvider nor a callable",
                kind="config", key=f"{self.key}.factory"))

    def describe(self) -> str:
        return f"provider python ({self.factory_name})"

    def fetch(self) -> Credential:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="configsvc-python-provider")
        try:
            answer = pool.submit(self._get).result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise FetchFailed(f"{self.factory_name} did not answer within {self.timeout:g} s") from None
        except Exception as error:
            raise FetchFailed(f"{self.factory_name} failed ({type(error).__name__})") from None
        finally:
            pool.shutdown(wait=False)
        return _credential(answer, self.factory_name)


    def _announce(self, token: Any) -> None:
        """A streaming redis-py provider's new token (redis-py's ``TokenInterface``)."""
        self._announced = token

    def _from_redis_provider(self, provider: Any) -> tuple[str | None, str, datetime | None]:
        values = provider.get_credentials()
        username, password = (None, values[0]) if len(values) == 1 else values
        token, expires_at = self._announced, None
        if token is not None and token.get_value() == password and token.get_expires_at_ms() > 0:
            expires_at = datetime.fromtimestamp(token.get_expires_at_ms() / 1000, UTC)
        return username, password, expires_at


def _is_redis_provider(made: Any) -> bool:
    return isinstance(made, RedisCredentialProvider)


def _credential(answer: Any, what: str) -> Credential:
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        raise FetchFailed(f"{what} returned something other than (username, password, expires_at)")
    username, password, expires_at = answer
    if not isinstance(password, str) or not password:
        raise FetchFailed(f"{what} returned no password")
    if isinstance(expires_at, datetime):
        expires_at = expires_at.isoformat()
    return Credential(Secret(password), username or None,
                      expiry_from(expires_at, what=what) if expires_at is not None else None)
