"""Applying a new configuration to a running app: only the keys whose resolved values changed.

What the app set in code after ``init_app`` (``app.debug`` from ``flask run --no-debug``, a setting of its
own) stays as it is unless the configuration sources now say something different for that key.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from flask import Flask

from configsvc.core.schema import CELERY_SECTION

CELERY_KEY = CELERY_SECTION.upper()
_MISSING: Any = object()


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """(keys set or changed -> new value, keys removed) between two flat mappings."""
    changed = {key: value for key, value in new.items() if old.get(key, _MISSING) != value}
    return changed, set(old) - set(new)


def apply_to_flask(app: Flask, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Change ``app.config`` from ``old`` to ``new`` (both ``Config.flask_mapping()``), key by key.

    A removed key goes back to Flask's default, or away when Flask has none. The ``CELERY`` mapping is
    changed key by key too.
    """
    old_top = {key: value for key, value in old.items() if key != CELERY_KEY}
    new_top = {key: value for key, value in new.items() if key != CELERY_KEY}
    changed, removed = changed_keys(old_top, new_top)
    _apply(app.config, changed, removed, Flask.default_config)
    celery_changed, celery_removed = changed_keys(old.get(CELERY_KEY) or {}, new.get(CELERY_KEY) or {})
    if celery_changed or celery_removed:
        section = dict(app.config.get(CELERY_KEY) or {})
        _apply(section, celery_changed, celery_removed, {})
        app.config[CELERY_KEY] = section


def _apply(target: MutableMapping[str, Any], changed: Mapping[str, Any], removed: set[str],
           defaults: Mapping[str, Any]) -> None:
    target.update(changed)
    for key in removed:
        if key in defaults:
            target[key] = defaults[key]
        else:
            target.pop(key, None)
