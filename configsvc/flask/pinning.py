"""One generation per unit of work: a request or a task reads one configuration from start to end.

A reload applies a new configuration to ``app.config`` while requests and tasks run. Each request and
each task (its app context, :class:`configsvc.celery.app_context.TaskAppContext`, which says so with
``configsvc_unit_of_work``) is pinned to the configuration in use when it first reads one: from then on
``config.settings`` and ``app.config[KEY]``/``app.config.get(KEY)`` answer from that configuration, and
the next request or task reads the new one. A key the unit itself writes (``app.config[KEY] = ...``) is
read back as written. Outside a request or task (the shell, a test's ``app_context()``), reads are
live. The app's own reload inside a unit (``state.reload()``) moves that unit to the new configuration.

``app.config`` becomes an instance of a subclass of its own class (made once per class) whose reads by
key consult the pin; nothing else about it changes.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from flask import Config as FlaskConfig
from flask import Flask

from configsvc.core.config import Config
from configsvc.flask.flask_internals import current_app_context, current_request_context

if TYPE_CHECKING:
    from flask.ctx import AppContext, RequestContext

    from configsvc.flask.state import ConfigState

_PINS = "_configsvc_pins"
_STATE = "_configsvc_state"


class Pin:
    """The configuration one unit of work reads, and the keys it wrote itself."""

    __slots__ = ("config", "mapping", "written")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.mapping = config.flask_values
        self.written: set[str] = set()


def unit_of_work() -> RequestContext | AppContext | None:
    """The current request context, else the current task's app context, else None."""
    unit = current_request_context(None)
    if unit is not None:
        return unit
    context = current_app_context(None)
    return context if getattr(context, "configsvc_unit_of_work", False) else None


def pin(state: ConfigState) -> Pin | None:
    """The current unit's pin for the app of ``state`` (made on first use), or None outside a unit."""
    unit = unit_of_work()
    if unit is None:
        return None
    pins: dict[int, Pin] | None = unit.__dict__.get(_PINS)
    if pins is None:
        pins = {}
        setattr(unit, _PINS, pins)
    found = pins.get(id(state))
    if found is None:
        found = pins[id(state)] = Pin(state.config)
    return found


def unpin(state: ConfigState) -> None:
    """Move the current unit (if any) to the app's configuration now (after a reload it made itself)."""
    unit = unit_of_work()
    pins = unit.__dict__.get(_PINS) if unit is not None else None
    if pins:
        pins.pop(id(state), None)


def pinned_config(state: ConfigState) -> Config:
    """The configuration the current unit of work reads (the app's current one outside a unit)."""
    found = pin(state)
    return found.config if found is not None else state.config


def pin_app_config(app: Flask, state: ConfigState) -> None:
    """Make ``app.config``'s reads by key answer from the current unit's pin."""
    config = app.config
    cls = type(config)
    pinned = _classes.get(cls)
    if pinned is None:
        pinned = _classes[cls] = type(f"Pinned{cls.__name__}", (cls,), {
            "__getitem__": _getitem, "get": _get, "__setitem__": _setitem,
            "__module__": __name__, "__doc__": cls.__doc__})
    object.__setattr__(config, _STATE, weakref.ref(state))
    config.__class__ = pinned


_classes: dict[type[FlaskConfig], type[FlaskConfig]] = {}
_missing = object()


def _pinned_value(config: FlaskConfig, key: Any) -> Any:
    state_ref = config.__dict__.get(_STATE)
    state = state_ref() if state_ref is not None else None
    if state is None:
        return _missing
    found = pin(state)
    if found is None or key in found.written:
        return _missing
    return found.mapping.get(key, _missing)


def _getitem(self: FlaskConfig, key: Any) -> Any:
    value = _pinned_value(self, key)
    return dict.__getitem__(self, key) if value is _missing else value


def _get(self: FlaskConfig, key: Any, default: Any = None) -> Any:
    value = _pinned_value(self, key)
    return dict.get(self, key, default) if value is _missing else value


def _setitem(self: FlaskConfig, key: Any, value: Any) -> None:
    dict.__setitem__(self, key, value)
    state_ref = self.__dict__.get(_STATE)
    state = state_ref() if state_ref is not None else None
    found = pin(state) if state is not None else None
    if found is not None:
        found.written.add(key)
