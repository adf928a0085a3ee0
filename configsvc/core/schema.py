"""The type of every known setting: Flask's, configsvc's own, and Celery's from its settings table.

Types come from here, never from how a value looks. Keys are stored lower-case; top-level keys become
Flask's upper-case config, the ``celery`` section becomes ``app.config["CELERY"]`` and Celery's ``conf``.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from configsvc.core.keypath import KeyPath
from configsvc.errors import ConfigUsageError

TypeName = Literal["str", "int", "float", "bool", "list", "dict", "any", "section"]


@dataclass(frozen=True)
class Setting:
    """One known setting: its type, and for ``int`` an optional inclusive range."""

    type: TypeName
    minimum: int | None = None
    maximum: int | None = None


CELERY_SECTION = "celery"
METRICS_SECTION = "metrics"
ROLLOUT_SECTION = "rollout"

# Flask's own settings (flask.Flask.default_config), by their lower-case names.
FLASK_SETTINGS: dict[str, Setting] = {
    "debug": Setting("bool"),
    "testing": Setting("bool"),
    "propagate_exceptions": Setting("bool"),
    "secret_key": Setting("str"),
    "secret_key_fallbacks": Setting("list"),
    "permanent_session_lifetime": Setting("int", minimum=0),
    "use_x_sendfile": Setting("bool"),
    "trusted_hosts": Setting("list"),
    "server_name": Setting("str"),
    "application_root": Setting("str"),
    "session_cookie_name": Setting("str"),
    "session_cookie_domain": Setting("str"),
    "session_cookie_path": Setting("str"),
    "session_cookie_httponly": Setting("bool"),
    "session_cookie_secure": Setting("bool"),
    "session_cookie_partitioned": Setting("bool"),
    "session_cookie_samesite": Setting("str"),
    "session_refresh_each_request": Setting("bool"),
    "max_content_length": Setting("int", minimum=0),
    "max_form_memory_size": Setting("int", minimum=0),
    "max_form_parts": Setting("int", minimum=0),
    "send_file_max_age_default": Setting("int", minimum=0),
    "trap_bad_request_errors": Setting("bool"),
    "trap_http_exceptions": Setting("bool"),
    "explain_template_loading": Setting("bool"),
    "preferred_url_scheme": Setting("str"),
    "templates_auto_reload": Setting("bool"),
    "max_cookie_size": Setting("int", minimum=0),
    "provide_automatic_options": Setting("bool"),
}

# configsvc's own top-level settings.
OWN_SETTINGS: dict[str, Setting] = {
    "task_request_headers": Setting("list"),
    "config_reload_interval": Setting("float"),
    # Which provider gives the user and password of a Celery URL setting (configsvc.credentials).
    "credentials": Setting("dict"),
    CELERY_SECTION: Setting("section"),
    METRICS_SECTION: Setting("section"),
    ROLLOUT_SECTION: Setting("section"),
}

# The ``metrics`` section (configsvc.metrics). A port is a number or a range, ``9800-9809``: text.
METRICS_SETTINGS: dict[str, Setting] = {
    "enabled": Setting("bool"),
    "path": Setting("str"),
    "token": Setting("str"),
    "worker_port": Setting("str"),
    "beat_port": Setting("str"),
}

# The ``rollout`` section (configsvc.rollout): ``immediate`` (a valid new file is applied when read) or
# ``staged`` (it is held until ``configsvc rollout`` says to apply it).
ROLLOUT_SETTINGS: dict[str, Setting] = {
    "mode": Setting("str"),
}
ROLLOUT_MODES = ("immediate", "staged")

TOP_LEVEL: dict[str, Setting] = {**FLASK_SETTINGS, **OWN_SETTINGS}

_CELERY_TYPES: dict[str, TypeName] = {
    "string": "str",
    "str": "str",
    "bytes": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "list": "list",
    "tuple": "list",
    "dict": "dict",
    "any": "any",
}

# Celery declares these "any" (they accept objects too), but from configuration they are numbers.
_CELERY_TYPE_FIXES: dict[str, TypeName] = {"worker_concurrency": "int"}
# Settings Celery reads that its table does not declare.
_CELERY_UNDECLARED: dict[str, TypeName] = {"redis_client_name": "str"}


@cache
def celery_settings() -> dict[str, Setting]:
    """Celery's own settings table (``celery.app.defaults.NAMESPACES``) as lower-case name -> type."""
    from celery.app import defaults

    table: dict[str, Setting] = {}
    for name, option in defaults.flatten(defaults.NAMESPACES):
        declared = option.type if isinstance(option.type, str) else option.type.__name__
        type_name = _CELERY_TYPE_FIXES.get(name, _CELERY_TYPES.get(declared, "any"))
        table[name] = Setting(type_name)
    for name, type_name in _CELERY_UNDECLARED.items():
        table.setdefault(name, Setting(type_name))
    return table


@cache
def celery_old_names() -> dict[str, str]:
    """Old upper-case Celery names (``CELERY_RESULT_BACKEND``, ``BROKER_URL``) -> new lower-case names.

    Celery's own table of old names, plus ``CELERY_`` + the new name upper-cased, the convention Flask's
    and Django's Celery guides use (``CELERY_BROKER_URL``).
    """
    from configsvc.core.celery_internals import old_setting_names

    names = {old.upper(): new for old, new in old_setting_names().items()}
    for new in celery_settings():
        names.setdefault(f"CELERY_{new.upper()}", new)
    return names


def old_celery_name_at_top_level(key: str) -> str | None:
    """The new ``celery`` key for an old Celery name used at the top level, else None.

    Only names that start with ``CELERY`` or ``BROKER_`` are taken: a top-level ``SERVER_EMAIL`` is the
    application's own key, not Celery's old name for it.
    """
    upper = key.upper()
    if not upper.startswith(("CELERY", "BROKER_")):
        return None
    return celery_old_names().get(upper)


def old_celery_name_in_section(key: str) -> str | None:
    """The new name for an old Celery name used inside the ``celery`` section, else None."""
    if key in celery_settings():
        return None
    return celery_old_names().get(key.upper())


class Schema:
    """Every typed key: Flask's, configsvc's, Celery's table for the ``celery`` section, and the app's own.

    An app's own keys (``schema=`` on ``ConfigService``) may be dotted; they may add keys but not retype
    one that Flask, Celery or configsvc already types differently.
    """

    def __init__(self, own: Mapping[KeyPath, Setting] | None = None) -> None:
        self.own: dict[KeyPath, Setting] = dict(own or {})
        for path, setting in self.own.items():
            known = self._builtin(path)
            if known is not None and known.type != setting.type:
                raise ConfigUsageError(
                    f"schema key {'.'.join(path)!r} is already typed {known.type} by "
                    f"{'Celery' if path[0] == CELERY_SECTION else 'Flask or configsvc'}; leave it out")
        # Every parent of an own key is a known mapping, so its siblings are checked for typos.
        self._children: dict[KeyPath, set[str]] = {(): set(TOP_LEVEL),
                                                   (METRICS_SECTION,): set(METRICS_SETTINGS),
                                                   (ROLLOUT_SECTION,): set(ROLLOUT_SETTINGS)}
        for path in self.own:
            for depth in range(len(path)):
                self._children.setdefault(path[:depth], set()).add(path[depth])

    def setting_for(self, path: KeyPath) -> Setting | None:
        """The known setting at a key path, or None for keys the schema does not know."""
        return self.own.get(path) or self._builtin(path)

    @staticmethod
    def _builtin(path: KeyPath) -> Setting | None:
        if len(path) == 1:
            return TOP_LEVEL.get(path[0])
        if len(path) == 2 and path[0] == CELERY_SECTION:
            return celery_settings().get(path[1])
        if len(path) == 2 and path[0] == METRICS_SECTION:
            return METRICS_SETTINGS.get(path[1])
        if len(path) == 2 and path[0] == ROLLOUT_SECTION:
            return ROLLOUT_SETTINGS.get(path[1])
        return None

    def near_miss(self, path: KeyPath) -> str | None:
        """The known key one typo away from an unknown ``path`` (``secrt_key`` -> ``secret_key``), or None.

        A typo is one letter added, dropped, changed, or two neighbours swapped; known keys shorter than
        four letters are never suggested (too many real words are one letter from them).
        """
        parent, name = path[:-1], path[-1]
        if parent == (CELERY_SECTION,):
            known: Collection[str] = celery_settings()
        else:
            known = self._children.get(parent, ())
        if name in known or self.setting_for(path) is not None:
            return None
        matches = sorted(k for k in known if len(k) >= 4 and one_typo_apart(name, k))
        return matches[0] if matches else None


def one_typo_apart(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] \
            and a[diffs[1]] == b[diffs[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    index = next((i for i, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[index:] == long[index + 1:]


def suggest_celery_key(name: str) -> str | None:
    """The closest known Celery setting name, for "did you mean" messages."""
    matches = difflib.get_close_matches(name, celery_settings(), n=1, cutoff=0.8)
    return matches[0] if matches else None
