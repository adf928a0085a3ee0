"""One Flask app bound to one Celery placeholder: the typed seam between configsvc's Flask and Celery halves.

``FlaskCelery.init_app(app)`` makes a :class:`Binding` and keeps it as ``celery.binding``. The Flask half
calls it as a :class:`~configsvc.flask.state.ReloadParticipant` on every reload (:meth:`Binding.
check_config`, :meth:`Binding.apply_config`); the Celery half — the worker's consumer and rotation step,
beat, the status command, the app-context task — reads the app, the configuration and the connection
generations through its methods, and hears of new broker settings through :meth:`Binding.
on_broker_change`. A new broker URL goes: the file changes → the reloader resolves it →
``ConfigState.switch`` → ``Binding.check_config`` (preflight) → ``Binding.apply_config`` (Celery's conf
updated, the old pool retired) → every ``on_broker_change`` listener → in a worker,
``RotationStep.request_switch`` → the consumer reconnects with the new settings.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask

from configsvc.celery import celery_internals, retiring
from configsvc.celery.embedded import prepare_folders, with_control_folder
from configsvc.celery.preflight import preflight
from configsvc.celery.renewal import Renewal
from configsvc.celery.settings_groups import backend_settings, broker_settings
from configsvc.core.config import Config
from configsvc.credentials.provided import ProvidedCredentials
from configsvc.errors import ConfigError
from configsvc.flask.state import ACCEPT, ConfigState, Decision, refuse

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("configsvc.celery")

_MISSING: Any = object()
#: A broker and a connection generation: what a connection was made under (see :class:`Binding`).
Generations = tuple[int, int]


class Binding:
    """What one Flask app and the Celery placeholder bound to it share.

    ``broker_generation`` counts changes of the broker settings since binding (the worker's consumer
    follows it); ``connection_generation`` counts changes of the broker or result backend settings.
    Under each connection generation the binding keeps the fingerprint of the configuration applied
    then, and how many retired connection pools and result backends of it still have connections open:
    a worker reports the configuration its connections use, not the one it has read.
    """

    def __init__(self, celery: Celery, app: Flask, state: ConfigState | None,
                 credentials: ProvidedCredentials | None = None) -> None:
        self.celery = celery
        #: The Flask app (tasks run in its context).
        self.app = app
        #: The app's configsvc state when it uses ``ConfigService`` (live reload), else None.
        self.state = state
        self.broker_generation = 0
        self.connection_generation = 0
        #: Every result backend handed out since the last backend change (one per thread for some).
        self.issued_backends: weakref.WeakSet[Any] = weakref.WeakSet()
        self._fingerprints = {0: state.fingerprint} if state is not None else {}
        self._open_retired: collections.Counter[int] = collections.Counter()
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        #: The provided credentials of the broker and backend URLs, applied to Celery's connections.
        self.renewal: Renewal | None = None
        self._next_credentials: ProvidedCredentials | None = None
        #: The generations the worker's consumer connected under (set by its rotation step), if any.
        self.consumer_generations: Callable[[], Generations | None] = lambda: None
        if credentials is not None:
            self.renewal = self._renewal(credentials, dict(celery.conf))
            celery.conf.update(self.renewal.backend_settings())

    def __repr__(self) -> str:
        return f"<Binding {self.app.name} broker generation {self.broker_generation}>"

    # -- the Flask half: a reload participant ------------------------------------------------------

    def check_config(self, old: Config, new: Config, *, forced: bool = False) -> Decision:
        """Refuse new credentials that the broker or a Redis backend refuses; defer a new broker that
        cannot be reached while the current one can, unless ``forced``."""
        if not self.current:
            return ACCEPT
        self._next_credentials = None
        if _credentials_section(old) != _credentials_section(new):
            try:
                self._next_credentials = ProvidedCredentials.from_tree(
                    {"credentials": _credentials_section(new)},
                    self.state.inputs.environ if self.state is not None else {})
            except ConfigError as error:
                return refuse(*error.problems)
        return preflight(self.celery, new.celery_settings(), old.celery_settings(), forced=forced)

    def apply_config(self, old: Config, new: Config) -> None:
        """Change the Celery settings that differ (removed ones go back to Celery's defaults), retire the
        connections of old broker or backend settings, then tell every listener of a broker change."""
        if not self.current:
            return
        before, after = (with_control_folder(dict(old.celery_settings())),
                         with_control_folder(dict(new.celery_settings())))
        broker_changed = broker_settings(before) != broker_settings(after)
        backend_changed = backend_settings(before) != backend_settings(after)
        conf = self.celery.conf
        celery_internals.forget_settings(conf, set(before) - set(after))
        conf.update({key: value for key, value in after.items() if before.get(key, _MISSING) != value})
        prepare_folders(after)
        if _credentials_section(old) != _credentials_section(new):
            if self.renewal is not None:
                self.renewal.retire()  # released once the switch below has closed its connections
            credentials, self._next_credentials = self._next_credentials, None
            self.renewal = None
            if credentials is not None:
                self.renewal = self._renewal(credentials, dict(conf))
                conf.update(self.renewal.backend_settings())
            else:
                celery_internals.forget_settings(conf, {"redis_backend_credential_provider"})
                if "result_backend" in after:  # with its user again
                    conf.update(result_backend=after["result_backend"])
            broker_changed = backend_changed = True
        self.switch_connections(broker_changed, backend_changed, new.fingerprint)

    def switch_connections(self, broker: bool, backend: bool, fingerprint: str | None = None) -> None:
        """Move the broker's and/or the backend's connections to the current settings and credentials
        live: retire the old pool or backends, count a new generation, tell every listener of a broker
        change (a worker's consumer switches between two messages)."""
        if broker:
            retiring.retire_pool(self.celery, self._counted())
        if backend:
            issued, self.issued_backends = list(self.issued_backends), weakref.WeakSet()
            retiring.retire_backends(self.celery, issued, self._counted)
        if broker or backend:
            self.connection_generation += 1
        if fingerprint is None:
            fingerprint = self._fingerprints.get(self.connection_generation - 1)
        if fingerprint is not None:
            self._fingerprints[self.connection_generation] = fingerprint
        if broker:
            self.broker_generation += 1
            for listener in list(self._listeners):
                listener()

    def _renewal(self, credentials: ProvidedCredentials, settings: dict[str, Any]) -> Renewal:
        return Renewal(credentials, settings, self.switch_connections,
                       generation=lambda: self.connection_generation, in_use=self.uses_generation)

    def uses_generation(self, generation: int) -> bool:
        """True while a connection of this process made under connection ``generation`` (or an older
        one) may still be open: the consumer's, a retired pool's or a retired backend's."""
        return self.oldest_generation_in_use(self.consumer_generations()) <= generation

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

    def on_broker_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` (in the reloading thread) after each change of the broker settings;
        returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    def generations(self) -> Generations:
        """The broker and connection generations now: read them before making a connection, so a change
        that lands while it is made is seen as newer."""
        return self.broker_generation, self.connection_generation

    def oldest_generation_in_use(self, consumer: Generations | None = None) -> int:
        """The oldest connection generation any connection of this process may still use: the
        consumer's (made under ``consumer``; current while the broker settings did not change since), or
        that of a retired pool or result backend with connections open."""
        oldest = [self.connection_generation]
        if consumer is not None and consumer[0] != self.broker_generation:
            oldest.append(consumer[1])
        oldest += [generation for generation, count in self._open_retired.items() if count > 0]
        return min(oldest)

    def fingerprint_in_use(self, consumer: Generations | None = None) -> str | None:
        """The fingerprint of the configuration this process's connections use (None without
        ``ConfigService``)."""
        if self.state is None:
            return None
        return self._fingerprints.get(self.oldest_generation_in_use(consumer), self.state.fingerprint)

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

    def _counted(self) -> retiring.Counted:
        """Count a retired pool or backend under the current connection generation until it is closed."""
        return retiring.Counted(self._open_retired, self.connection_generation)


def _credentials_section(config: Config) -> Any:
    return config.flask_mapping().get("CREDENTIALS")


def binding_of(celery: Any) -> Binding | None:
    """The binding of a Celery app (a bound :class:`~configsvc.celery.FlaskCelery`), or None."""
    binding = getattr(celery, "binding", None)
    return binding if isinstance(binding, Binding) else None
