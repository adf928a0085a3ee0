"""Factories for ``provider: python`` in the tests, as an app's own module would have them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.auth.token import SimpleToken
from redis.credentials import StreamingCredentialProvider, UsernamePasswordCredentialProvider


def callable_credentials(options: dict[str, Any]) -> Callable[[], tuple[str, str, datetime]]:
    """A callable giving ``(user, password, expires_at)``; the password counts the calls."""
    calls = iter(range(1, 1_000_000))

    def credentials() -> tuple[str, str, datetime]:
        return options["user"], f"password-{next(calls)}", datetime.now(UTC) + timedelta(minutes=10)
    return credentials


def redis_credentials(options: dict[str, Any]) -> UsernamePasswordCredentialProvider:
    return UsernamePasswordCredentialProvider(options["user"], options["password"])


class RenewingProvider(StreamingCredentialProvider):
    """A streaming provider that renews its own token, as redis-entraid's does: ``get_credentials`` gives
    the current token, ``renew()`` makes a new one and announces it through ``on_next``."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.serial = 0
        self.listener: Callable[[Any], None] | None = None
        self.token = self._make()

    def _make(self) -> SimpleToken:
        self.serial += 1
        now = time.time() * 1000
        return SimpleToken(f"token-{self.serial}", now + self.lifetime * 1000, now, {"oid": "entra-user"})

    def renew(self) -> None:
        self.token = self._make()
        if self.listener is not None:
            self.listener(self.token)

    def get_credentials(self) -> tuple[str, str]:
        return self.token.try_get("oid"), self.token.get_value()

    async def get_credentials_async(self) -> tuple[str, str]:
        return self.get_credentials()

    def on_next(self, callback: Callable[[Any], None]) -> None:
        self.listener = callback

    def on_error(self, callback: Callable[[Exception], None]) -> None:
        pass

    def is_streaming(self) -> bool:
        return True


#: The last RenewingProvider made, for the test to renew.
made: list[RenewingProvider] = []


def renewing(options: dict[str, Any]) -> RenewingProvider:
    made.append(RenewingProvider(float(options.get("lifetime", 3600))))
    return made[-1]


def hanging(options: dict[str, Any]) -> Callable[[], tuple[str, str, None]]:
    def credentials() -> tuple[str, str, None]:
        time.sleep(float(options["seconds"]))
        return "u", "p", None
    return credentials


def failing(options: dict[str, Any]) -> Callable[[], Any]:
    raise RuntimeError("the identity service is not configured")


def neither(options: dict[str, Any]) -> int:
    return 42
