"""Every use of dynaconf's internals, in one place. Checked against dynaconf 3.3.5.

configsvc merges layers with dynaconf but lets none of dynaconf's own behaviour reach users. Two things
need its internals: a ``Settings`` subclass (given as ``_wrapper_class``) whose ``environ`` is empty, so
that no ``*_FOR_DYNACONF`` variable of the process can switch a loader on, and the ``_wrapped`` settings
behind the lazy ``Dynaconf`` object, copied for each merge.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from dynaconf import Dynaconf
from dynaconf.base import Settings as DynaconfSettings


def fresh_settings() -> Any:
    """A new, empty, isolated dynaconf ``Settings`` to merge into (a copy of one set up once)."""
    return copy.deepcopy(_template())


class _NoEnvironSettings(DynaconfSettings):  # type: ignore[misc]
    """Dynaconf settings that see an empty environment.

    Dynaconf's first loader re-reads every ``*_FOR_DYNACONF`` variable from ``environ`` after the
    keyword arguments, so arguments alone cannot stop ``VAULT_ENABLED_FOR_DYNACONF=true`` or
    ``SETTINGS_FILE_FOR_DYNACONF=...`` in the process environment from taking effect.
    """

    @property
    def environ(self) -> dict[str, str]:
        return {}


@functools.cache
def _template() -> Any:
    """One isolated dynaconf, set up once: each merge works on a copy (setting dynaconf up takes ~20x
    as long as copying it). The template itself is never changed, so copies may be taken from any thread."""
    settings = _isolated_dynaconf()
    settings.as_dict()  # the lazy settings are set up now
    return settings._wrapped


def _isolated_dynaconf() -> Any:
    # Every setting that dynaconf would otherwise take from the process environment is given here.
    return Dynaconf(
        _wrapper_class=_NoEnvironSettings,
        settings_files=[],
        preload=[],
        includes=[],
        secrets=None,
        environments=False,
        load_dotenv=False,
        envvar_prefix=False,
        envvar="CONFIGSVC_UNUSED_SETTINGS_MODULE",
        loaders=[],
        core_loaders=[],
        redis_enabled=False,
        vault_enabled=False,
        merge_enabled=True,
        auto_cast=False,
        dotted_lookup=False,
        sysenv_fallback=False,
        root_path="/nonexistent-configsvc-root",
        fresh_vars=[],
        validate_on_update=False,
        apply_default_on_none=False,
        lowercase_read=False,
        skip_files=[],
    )
