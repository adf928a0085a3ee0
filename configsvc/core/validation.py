"""Rules across settings, checked after merging: what each environment requires."""

from __future__ import annotations

import importlib.util
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.core.layering import Merged, lookup
from configsvc.core.schema import ROLLOUT_MODES
from configsvc.errors import Problem

PRODUCTION = "production"


def validate(merged: Merged, env: str, shipped_secret_keys: list[Any],
             env_prefix: str = "APP_") -> list[Problem]:
    """Every problem with the merged settings for this environment (empty when there is none).

    ``shipped_secret_keys`` are the values the app's code ships (defaults file, example files):
    production refuses them as its ``secret_key``.
    """
    problems: list[Problem] = metrics_problems(merged) + rollout_problems(merged)
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


def metrics_problems(merged: Merged) -> list[Problem]:
    """The ``metrics`` section: ports that are numbers or ranges, a path that is a path, and the
    Prometheus client installed when metrics are enabled (found without importing it)."""
    problems: list[Problem] = []
    for name in ("worker_port", "beat_port"):
        _, value = lookup(merged.tree, ("metrics", name))
        if value is not None and port_range(str(value)) is None:
            problems.append(_at(merged, ("metrics", name),
                                "expected a port (1 to 65535) or a range of them, like 9800-9809"))
    _, path = lookup(merged.tree, ("metrics", "path"))
    if path is not None and not str(path).startswith("/"):
        problems.append(_at(merged, ("metrics", "path"), "expected a path that starts with /"))
    _, enabled = lookup(merged.tree, ("metrics", "enabled"))
    if enabled is True and importlib.util.find_spec("prometheus_client") is None:
        problems.append(_at(merged, ("metrics", "enabled"),
                            "metrics need the Prometheus client: pip install 'configsvc[metrics]'"))
    return problems


def rollout_problems(merged: Merged) -> list[Problem]:
    """The ``rollout`` section: a known mode."""
    _, mode = lookup(merged.tree, ("rollout", "mode"))
    if mode is not None and mode not in ROLLOUT_MODES:
        return [_at(merged, ("rollout", "mode"), f"expected one of {', '.join(ROLLOUT_MODES)}")]
    return []


def port_range(text: str) -> tuple[int, int] | None:
    """``"9800"`` -> (9800, 9800), ``"9800-9809"`` -> (9800, 9809); None for anything else."""
    first, _, last = text.strip().partition("-")
    if not first.strip().isdigit() or not (last.strip().isdigit() or not last):
        return None
    low, high = int(first), int(last or first)
    return (low, high) if 1 <= low <= high <= 65535 else None


def _at(merged: Merged, path: KeyPath, message: str) -> Problem:
    winner = merged.winners.get(path)
    if winner is None:
        return Problem(message, key=".".join(path))
    return winner.layer.problem(message, winner.written_path(path))


def _missing(key: str, message: str) -> Problem:
    return Problem(message, key=key)
