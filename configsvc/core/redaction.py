"""What counts as a secret, and how it is shown: ``***`` everywhere but ``configsvc show --reveal``."""

from __future__ import annotations

import re
from typing import Any, final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

SECRET_KEY_PATTERN = re.compile(r"secret|password|passwd|token|key|credential", re.IGNORECASE)


#: Top-level sections whose own name sounds secret but whose keys are settings, each judged by its own
#: name: ``credentials.broker_url.provider`` is shown, ``credentials.broker_url.client_secret`` is not.
SECTIONS_JUDGED_BY_KEY = ("credentials",)


def is_secret_key(dotted_key: str) -> bool:
    """True when any part of the dotted key names a secret (``celery.broker_password``, ``api_token``)."""
    section, dot, rest = dotted_key.partition(".")
    if section.lower() in SECTIONS_JUDGED_BY_KEY:
        if not dot:
            return False
        dotted_key = rest
    return SECRET_KEY_PATTERN.search(dotted_key) is not None


def mask_url(url: str) -> str:
    """The URL with its password (and secret-named query values) replaced by ``***``; fails closed.

    kombu's ``sanitize_url`` rebuilds the URL (it drops the query and rewrites ``filesystem://``), so
    ``configsvc show`` would not show what is configured; this changes nothing but the secret parts.
    Everything between the scheme and the last ``@`` is taken as credentials, so a password holding an
    unencoded ``/``, ``?``, ``#`` or ``@`` is masked whole (a URL parser would put part of it in the
    path, query or fragment); a URL that cannot be parsed is masked whole. Failover lists
    (``amqp://a;amqp://b``) are masked part by part.
    """
    if ";" in url:
        failover = url.split(";")
        if all(_URL_START.match(part) for part in failover):  # else a ';' inside a password: one URL
            return ";".join(mask_url(part) for part in failover)
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    userinfo, at, hostinfo = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        if colon and not _HAS_DELIMITER.search(user):
            rest = f"{user}:{MASK}@{hostinfo}"
        elif colon or _HAS_DELIMITER.search(userinfo):
            rest = f"{MASK}@{hostinfo}"  # the name itself holds a delimiter: all of it may be secret
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        parts.port  # noqa: B018 -- raises ValueError for a host or port that cannot be read
    except ValueError:
        return f"{scheme}://{MASK}"
    query = parts.query
    if query and SECRET_KEY_PATTERN.search(query):
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if SECRET_KEY_PATTERN.search(k) else v) for k, v in pairs], safe="*"
        )
        rest = urlunsplit(("", parts.netloc, parts.path, query, parts.fragment))[2:]
    shown = f"{scheme}://{rest}"
    return url if shown == url else shown


def misread_url(url: str) -> bool:
    """True when a URL parser (kombu's, redis-py's) would not find the URL's credentials where they are
    written: an unencoded ``/``, ``?``, ``#``, ``@`` or ``;`` in the user or password (kombu splits
    failover lists on ``;``), or a host or port that
    cannot be read. ``configsvc`` warns about such a value: percent-encode those characters."""
    if ";" in url and all(_URL_START.match(part) for part in url.split(";")):
        return any(misread_url(part) for part in url.split(";"))
    _, separator, rest = url.partition("://")
    if not separator:
        return False
    userinfo = rest.rpartition("@")[0]
    if _HAS_DELIMITER.search(userinfo):
        return True
    try:
        urlsplit(url).port  # noqa: B018
    except ValueError:
        return True
    return False


_HAS_DELIMITER = re.compile(r"[/?#@;]")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def url_has_secret(value: str) -> bool:
    """True when the string is a URL whose password or query carries a secret."""
    return "://" in value and mask_url(value) != value


@final
class Secret:
    """A configured value that must not be shown: its ``repr`` and ``str`` are masked.

    The real value is only handed out by :meth:`reveal` — to Flask and Celery, and to
    ``configsvc show --reveal``.
    """

    __slots__ = ("_masked", "_value")

    def __init__(self, value: Any, masked: str = MASK) -> None:
        self._value = value
        self._masked = masked

    def reveal(self) -> Any:
        """The real value."""
        return self._value

    @property
    def masked(self) -> str:
        """How the value is shown: ``***``, or the URL with its password masked."""
        return self._masked

    def __repr__(self) -> str:
        return f"Secret({self._masked!r})"

    def __str__(self) -> str:
        return self._masked

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", repr(self._value)))

    def __reduce__(self) -> Any:  # never pickle a secret into a file or a broker message by accident
        raise TypeError("configsvc.Secret cannot be pickled; call reveal() deliberately")


def protect(dotted_key: str, value: Any) -> Any:
    """Wrap the secret parts of one resolved value in :class:`Secret`.

    A value under a secret-named key is wrapped whole; elsewhere, URLs with passwords are wrapped one
    by one, inside lists and mappings too.
    """
    if is_secret_key(dotted_key):
        return _wrap_whole(value)
    return _protect_inside(value)


def _wrap_whole(value: Any) -> Any:
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str) and url_has_secret(value):
        return Secret(value, mask_url(value))
    return Secret(value)


def _protect_inside(value: Any) -> Any:
    # Only the new key segment is checked at each level: a secret-named parent was wrapped whole.
    if isinstance(value, str):
        return Secret(value, mask_url(value)) if url_has_secret(value) else value
    if isinstance(value, dict):
        return {
            key: _wrap_whole(item) if SECRET_KEY_PATTERN.search(key) else _protect_inside(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_protect_inside(item) for item in value)
    return value


def reveal(value: Any) -> Any:
    """The value with every :class:`Secret` inside it replaced by its real value."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(reveal(item) for item in value)
    return value


def masked(value: Any) -> Any:
    """The value with every :class:`Secret` inside it replaced by its masked text (for display)."""
    if isinstance(value, Secret):
        return value.masked
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def redact(dotted_key: str, value: Any) -> Any:
    """The value as it may be shown under that key: secrets masked, everything else as it is."""
    return masked(protect(dotted_key, value))
