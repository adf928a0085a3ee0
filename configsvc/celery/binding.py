"""One Flask app bound to one Celery placeholder: the typed seam between configsvc's Flask and Celery halves.

``FlaskCelery.init_app(app)`` makes a :class:`Binding` and keeps it as ``celery.binding``. The Flask half
calls it as a :class:`~configsvc.flask.state.ReloadParticipant` on every reload (:meth:`Binding.
check_config`, :meth:`Binding.apply_config`); the Celery half — the worker's consumer and rotation step,
beat, the status command, the app-context task — reads the app and its configuration through it, and the
process's connections through :attr:`Binding.connections`. A new broker URL goes: the file changes → the
reloader resolves it → ``ConfigState.switch`` → ``Binding.check_config`` (preflight) →
``Binding.apply_config`` (Celery's conf updated) → ``Connections.move`` (the old pool retired, a new
settings version) → in a worker, ``Switch.request`` → the consumer reconnects with the new settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask

from configsvc.celery import celery_internals
from configsvc.celery.connections import Connections
from configsvc.celery.embedded import embedded_settings, prepare_folders
from configsvc.celery.preflight import preflight
from configsvc.celery.renewal import Renewal
from configsvc.celery.settings_groups import backend_settings, broker_settings
from configsvc.core.config import Config
from configsvc.credentials.provided import ProvidedCredentials
from configsvc.errors import ConfigError
from configsvc.flask.state import ACCEPT, ConfigState, Decision, refuse

if TYPE_CHECKING:
    from collections.abc import Callable

    from celery import Celery

logger = logging.getLogger("configsvc.celery")

_MISSING: Any = object()


class Binding:
    """What one Flask app and the Celery placeholder bound to it share: the app, its configsvc state,
    the provided credentials, and the process's connections (:class:`~configsvc.celery.connections.
    Connections`)."""

    def __init__(self, celery: Celery, app: Flask, state: ConfigState | None,
                 credentials: ProvidedCredentials | None = None) -> None:
        self.celery = celery
        #: The Flask app (tasks run in its context).
        self.app = app
        #: The app's configsvc state when it uses ``ConfigService`` (live reload), else None.
        self.state = state
        #: The broker and backend connections of this process and the settings each uses.
        self.connections = Connections(celery, state.fingerprint if state is not None else None)
        #: The provided credentials of the broker and backend URLs, applied to Celery's connections.
        self.renewal: Renewal | None = None
        self._next_credentials: ProvidedCredentials | None = None
        if credentials is not None:
            self.renewal = Renewal(credentials, dict(celery.conf), self.connections)
            celery.conf.update(self.renewal.backend_settings())

    def __repr__(self) -> str:
        return f"<Binding {self.app.name} {self.connections!r}>"

    # -- the Flask half: a reload participant ------------------------------------------------------

    def check_config(self, old: Config, new: Config, *, forced: bool = False) -> Decision:
        """Refuse new credentials that the broker or a Redis backend refuses; defer a new broker that
        cannot be reached while the current one can, unless ``forced``."""
        if not self.current:
            return ACCEPT
        self._next_credentials = None
        if old.credentials != new.credentials:
            try:
                self._next_credentials = ProvidedCredentials.from_config(
                    new, self.state.inputs.environ if self.state is not None else {})
            except ConfigError as error:
                return refuse(*error.problems)
        return preflight(self.celery, new.celery_settings(), old.celery_settings(), forced=forced)

    def apply_config(self, old: Config, new: Config) -> None:
        """Change the Celery settings that differ (removed ones go back to Celery's defaults), then move
        the connections of changed broker or backend settings (:meth:`Connections.move`)."""
        if not self.current:
            return
        before, after = (embedded_settings(dict(old.celery_settings())),
                         embedded_settings(dict(new.celery_settings())))
        broker_changed = broker_settings(before) != broker_settings(after)
        backend_changed = backend_settings(before) != backend_settings(after)
        conf = self.celery.conf
        celery_internals.forget_settings(conf, set(before) - set(after))
        conf.update({key: value for key, value in after.items() if before.get(key, _MISSING) != value})
        prepare_folders(after)
        if old.credentials != new.credentials:
            if self.renewal is not None:
                self.renewal.retire()  # released once the switch below has closed its connections
            credentials, self._next_credentials = self._next_credentials, None
            self.renewal = None
            if credentials is not None:
                self.renewal = Renewal(credentials, dict(conf), self.connections)
                conf.update(self.renewal.backend_settings())
            else:
                celery_internals.forget_settings(conf, {"redis_backend_credential_provider"})
                if "result_backend" in after:  # with its user again
                    conf.update(result_backend=after["result_backend"])
            broker_changed = backend_changed = True
        if broker_changed or backend_changed:
            self.connections.move(broker_changed, backend_changed, new.fingerprint)
        else:  # the same connections now run the new configuration
            self.connections.reconfigured(new.fingerprint)

    def credentials_status(self) -> dict[str, Any]:
        """``credentials`` and ``credentials_expire_at`` when a provider gives this app's URLs their
        credentials, else nothing."""
        return self.renewal.credentials.status() if self.renewal is not None else {}

    @property
    def current(self) -> bool:
        """False once the placeholder was bound again (to another app): this binding then changes
        nothing."""
        return getattr(self.celery, "binding", None) is self

    # -- the Celery half ---------------------------------------------------------------------------

    @property
    def config(self) -> Config | None:
        """The configuration in use, when the app uses ``ConfigService``."""
        return self.state.config if self.state is not None else None

    def config_generation(self) -> int:
        """How many configurations the app applied since it started (0 without ``ConfigService``)."""
        return self.state.generation if self.state is not None else 0

    def wait_for_config_change(self, generation: int, timeout: float) -> bool:
        """Wait until a configuration newer than ``generation`` is applied; False on timeout (at once
        without ``ConfigService``)."""
        return self.state.wait_for_change(generation, timeout) if self.state is not None else False

    def reload(self, force: bool = True) -> bool:
        """Read the configuration again now (a refused publish: it may have just changed)."""
        return self.state.reload(force) if self.state is not None else False

    def sighup_handler(self) -> Callable[..., None] | None:
        """The app's reload-on-SIGHUP handler, for the worker (whose own would re-exec it)."""
        return self.state.sighup_handler() if self.state is not None else None


def binding_of(celery: object) -> Binding | None:
    """The binding of a Celery app (a bound :class:`~configsvc.celery.FlaskCelery`), or None."""
    binding = getattr(celery, "binding", None)
    return binding if isinstance(binding, Binding) else None
