"""Dotted keys and the paths they name: ``celery.broker_url`` is ``("celery", "broker_url")``.

A :data:`KeyPath` names a setting (lower-case keys; keys are case-insensitive). A :data:`ValuePath`
names one value inside a file's tree as written, list positions included: ``("celery",
"accept_content", 0)``.
"""

from __future__ import annotations

KeyPath = tuple[str, ...]
ValuePath = tuple[str | int, ...]


def parse_key(key: str) -> KeyPath:
    """A dotted key as a lower-case key path (keys are case-insensitive)."""
    return tuple(part.lower() for part in key.strip().split("."))


def dotted(path: ValuePath) -> str:
    """The user-facing dotted key of a value path (list positions left out): ``celery.accept_content``."""
    return ".".join(str(part) for part in path if isinstance(part, str))


def key_path(path: ValuePath) -> KeyPath:
    """The setting a value path is in (list positions left out, keys lower-cased)."""
    return tuple(part.lower() for part in path if isinstance(part, str))
