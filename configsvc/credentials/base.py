"""What every credential provider is: options in, ``fetch()`` out — a user, a password, an expiry.

A provider is named in the ``credentials`` section (``provider: command``) and found in :data:`PROVIDERS`
by that name. It is made once per process from its options (checked when it is made, every problem at
once) and asked for a new :class:`Credential` whenever the refresher says it is time; it never decides
when. A provider that hands out leases (Vault) also gets :meth:`CredentialProvider.renew` and
:meth:`CredentialProvider.release`.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from configsvc.core.redaction import Secret
from configsvc.errors import ConfigError, Problem

#: The section that maps a Celery URL setting to its provider.
SECTION = "credentials"
#: The Celery settings a provider may give the user and password of.
PROVIDED_SETTINGS = ("broker_url", "result_backend")
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, eq=False)
class Credential:
    """One user and password (or token) from a provider, and until when it may be used.

    ``username`` None keeps the URL's user. ``expires_at`` None: it does not expire. ``lease`` is the
    provider's own handle on it (a Vault lease), never shown.
    """

    password: Secret
    username: str | None = None
    expires_at: datetime | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lease: Any = None

    def __repr__(self) -> str:
        expiry = self.expires_at.isoformat() if self.expires_at else "never"
        return f"<Credential user {self.username!r}, expires {expiry}>"

    @property
    def lifetime(self) -> timedelta | None:
        """From when it was received to when it expires (None: it does not expire)."""
        return None if self.expires_at is None else self.expires_at - self.received_at

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """Seconds until it expires (0 once it has; None: it does not expire)."""
        if self.expires_at is None:
            return None
        return max(0.0, (self.expires_at - (now or datetime.now(UTC))).total_seconds())

    def same_secret(self, other: Credential | None) -> bool:
        return other is not None and other.username == self.username and \
            other.password.reveal() == self.password.reveal()


class FetchFailed(Exception):
    """A provider could not give a credential now. The message is one line naming why, never a value."""


class CredentialExpired(ConnectionError):
    """A connection was about to be opened with a credential past its expiry (its provider has not given
    a new one). A connection error, so kombu, redis-py and Celery retry it as they retry a broker that is
    down, while the refresher keeps asking the provider."""


class CredentialProvider(ABC):
    """The base of every provider. A subclass sets ``name``, the options it takes (``required``,
    ``optional``) and, when it needs a library configsvc does not install, ``extra``; it implements
    :meth:`fetch`."""

    name: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    #: The module this provider imports that configsvc does not install (``botocore``), and the pip extra
    #: that installs it (``aws`` for ``configsvc[aws]``); None when it needs nothing more.
    library: ClassVar[str | None] = None
    extra: ClassVar[str | None] = None
    #: Seconds after which a credential that names no expiry is fetched again (a provider may still
    #: rotate it); a provider that renews on its own schedule asks sooner.
    recheck_without_expiry: float = 3600.0
    #: The part of a credential's lifetime after which it is refreshed (at the latest 3 minutes before
    #: it expires).
    refresh_fraction: float = 0.7
    #: True when each process must hold a credential of its own (a Vault lease): a forked child fetches
    #: its own when it first connects instead of using its parent's.
    per_process: bool = False

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        #: The Celery setting this provider gives credentials for (``broker_url``).
        self.setting = setting
        self.options = dict(options)
        self.environ = environ
        self.timeout = float(self.options.get("timeout", DEFAULT_TIMEOUT))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.setting}>"

    @property
    def key(self) -> str:
        """The dotted key of this provider's section (``credentials.broker_url``)."""
        return f"{SECTION}.{self.setting}"

    def describe(self) -> str:
        """What ``show`` names as the source of the user and password: ``provider command``."""
        return f"provider {self.name}"

    @abstractmethod
    def fetch(self) -> Credential:
        """A new credential now; raises :class:`FetchFailed` (bounded by ``self.timeout``)."""

    def renew(self, credential: Credential) -> Credential | None:
        """Extend ``credential`` without a new secret (a lease renewal), or None when it cannot be: the
        refresher then fetches a new one."""
        return None

    def release(self, credential: Credential) -> None:  # noqa: B027 - most providers hold nothing
        """``credential`` is no longer used by any connection of this process (revoke a lease)."""

    def close(self) -> None:  # noqa: B027
        """The process is exiting cleanly."""

    def forked(self) -> None:  # noqa: B027
        """In a forked child, right after the fork: make anew every lock, client and thread this
        provider keeps (a thread of the parent may have held a lock at the fork; a client's sockets are
        the parent's). Called through the credential that uses the provider."""


#: Built-in providers by name: ``module:class``, imported on first use (their libraries are extras).
PROVIDERS: dict[str, str | type[CredentialProvider]] = {
    "command": "configsvc.credentials.command:CommandProvider",
    "oauth2": "configsvc.credentials.oauth2:OAuth2Provider",
    "aws_iam": "configsvc.credentials.aws_iam:AwsIamProvider",
    "python": "configsvc.credentials.python:PythonProvider",
    "vault": "configsvc.credentials.vault:VaultProvider",
}


def register_provider(name: str, cls: type[CredentialProvider] | str) -> None:
    """Make ``provider: <name>`` build ``cls`` (a class, or ``"module:Class"`` imported on first use)."""
    PROVIDERS[name] = cls


def provider_class(name: str, key: str) -> type[CredentialProvider]:
    """The provider class registered as ``name``; ConfigError naming ``key`` for an unknown name or a
    provider whose extra is not installed."""
    target = PROVIDERS.get(name)
    if target is None:
        raise ConfigError(Problem(f"unknown provider {name!r}; use one of: {', '.join(sorted(PROVIDERS))}",
                                  kind="config", key=f"{key}.provider"))
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[CredentialProvider] = getattr(module, attribute)
    return cls


def missing_library(cls: type[CredentialProvider]) -> str | None:
    """Why ``cls`` cannot run here (its library is not installed, with the pip install to run), or None."""
    if cls.library is None or importlib.util.find_spec(cls.library) is not None:
        return None
    return (f"the {cls.name} provider needs {cls.library}, which is not installed; run: "
            f"pip install 'configsvc[{cls.extra}]'")


#: The longest lifetime a provider may give a credential: an expiry further away is a provider's mistake
#: (and a refresh scheduled that far ahead would not fit a thread's wait).
MAX_LIFETIME = timedelta(days=3650)


def expiry_from(expires_at: Any = None, expires_in: Any = None, *, what: str) -> datetime | None:
    """An aware UTC expiry from an ISO 8601 time, a Unix time, or a number of seconds from now;
    FetchFailed naming ``what`` (never the value) when it cannot be read or is out of range: not a finite
    number, before 1970, or more than :data:`MAX_LIFETIME` ahead. Neither given: None (it does not
    expire)."""
    now = datetime.now(UTC)
    latest = now + MAX_LIFETIME
    if expires_at is not None:
        if _is_number(expires_at):
            seconds = _finite(expires_at)
            if seconds is None or not 0 <= seconds <= latest.timestamp():
                raise FetchFailed(f"{what}: expires_at is not a time within {MAX_LIFETIME.days} days")
            return datetime.fromtimestamp(seconds, UTC)
        if not isinstance(expires_at, str) or len(expires_at) > 64:
            raise FetchFailed(f"{what}: expires_at is not a time")
        try:
            parsed = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            raise FetchFailed(f"{what}: expires_at is not an ISO 8601 time") from None
        parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        if parsed > latest:
            raise FetchFailed(f"{what}: expires_at is more than {MAX_LIFETIME.days} days ahead")
        return parsed
    if expires_in is not None:
        if not _is_number(expires_in):
            raise FetchFailed(f"{what}: expires_in is not a number of seconds")
        seconds = _finite(expires_in)
        if seconds is None or not 0 <= seconds <= MAX_LIFETIME.total_seconds():
            raise FetchFailed(f"{what}: expires_in is not a number of seconds from 0 to "
                              f"{MAX_LIFETIME.total_seconds():.0f}")
        return now + timedelta(seconds=seconds)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(number: float) -> float | None:
    """``number`` as a finite float, or None (NaN, an infinity, an integer too large for a float)."""
    try:
        value = float(number)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None
