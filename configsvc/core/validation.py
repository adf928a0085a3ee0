"""Rules across settings, checked after merging: what each environment requires."""

from __future__ import annotations

from typing import Any

from configsvc.core.layering import Merged, lookup
from configsvc.errors import Problem

PRODUCTION = "production"


def validate(merged: Merged, env: str, shipped_secret_keys: list[Any]) -> list[Problem]:
    """Every problem with the merged settings for this environment (empty when there is none)."""
    problems: list[Problem] = []
    if env == PRODUCTION:
        _, secret_key = lookup(merged.tree, ("secret_key",))
        if not secret_key:
            problems.append(_missing(
                "secret_key", "production needs a secret_key: set it in the deployment file or "
                "APP_SECRET_KEY (generate one with: python -c 'import secrets; "
                "print(secrets.token_hex(32))')"))
        elif secret_key in shipped_secret_keys:
            winner = merged.winners[("secret_key",)]
            problems.append(winner.layer.problem(
                "production must not use the secret_key shipped in settings/; set your own in the "
                "deployment file or APP_SECRET_KEY",
                winner.written_path(("secret_key",)),
            ))
        _, broker_url = lookup(merged.tree, ("celery", "broker_url"))
        if not broker_url:
            problems.append(_missing(
                "celery.broker_url", "production needs celery.broker_url: set it under 'celery:' in "
                "the deployment file or in APP_CELERY__BROKER_URL (there is no default broker)"))
    return problems


def _missing(key: str, message: str) -> Problem:
    return Problem(message, key=key)
