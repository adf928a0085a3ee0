"""Rules across settings, checked after merging: what each environment requires."""

from __future__ import annotations

from typing import Any

from configsvc.core.layering import Merged, lookup
from configsvc.errors import Problem

PRODUCTION = "production"


def validate(merged: Merged, env: str, shipped_secret_keys: list[Any],
             env_prefix: str = "APP_") -> list[Problem]:
    """Every problem with the merged settings for this environment (empty when there is none).

    ``shipped_secret_keys`` are the values the app's code ships (defaults file, example files):
    production refuses them as its ``secret_key``.
    """
    problems: list[Problem] = []
    if env == PRODUCTION:
        _, secret_key = lookup(merged.tree, ("secret_key",))
        if not secret_key:
            problems.append(_missing(
                "secret_key", f"production needs a secret_key: set it in the deployment file or "
                f"{env_prefix}SECRET_KEY (generate one with: python -c 'import secrets; "
                "print(secrets.token_hex(32))')"))
        elif secret_key in shipped_secret_keys:
            winner = merged.winners[("secret_key",)]
            problems.append(winner.layer.problem(
                "production must not use a secret_key shipped with the code (in the defaults file or "
                f"an example file); set your own in the deployment file or {env_prefix}SECRET_KEY",
                winner.written_path(("secret_key",)),
            ))
        _, broker_url = lookup(merged.tree, ("celery", "broker_url"))
        if not broker_url:
            problems.append(_missing(
                "celery.broker_url", "production needs celery.broker_url: set it under 'celery:' in "
                f"the deployment file or in {env_prefix}CELERY__BROKER_URL (there is no default broker)"))
    return problems


def _missing(key: str, message: str) -> Problem:
    return Problem(message, key=key)
