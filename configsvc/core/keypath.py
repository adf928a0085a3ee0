"""Dotted keys and the key paths they name: ``celery.broker_url`` is ``("celery", "broker_url")``."""

from __future__ import annotations

KeyPath = tuple[str, ...]


def parse_key(key: str) -> KeyPath:
    """A dotted key as a lower-case key path (keys are case-insensitive)."""
    return tuple(part.lower() for part in key.strip().split("."))


def dotted(path: KeyPath) -> str:
    """The dotted key of a key path."""
    return ".".join(path)
