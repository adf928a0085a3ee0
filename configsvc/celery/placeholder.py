"""A Celery app that is created unconfigured at import and bound to a Flask app by ``init_app``.

Tasks import the placeholder, not the Flask app, so there is no import cycle. Until ``init_app`` binds a
configuration, anything that would reach a broker or result backend raises
:class:`configsvc.CeleryNotConfigured` at once instead of falling back to ``amqp://guest@localhost``.
Binding again (a second ``create_app()``) replaces the configuration, connection pools and backend.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import TYPE_CHECKING, Any

from flask import Flask

from configsvc.celery import celery_internals, kombu_internals
from configsvc.celery.auth import is_auth_failure
from configsvc.celery.beat import follow_rotation_in_beat
from configsvc.celery.binding import Binding
from configsvc.celery.embedded import embedded_settings, prepare_folders, quiet_hostless_warnings
from configsvc.celery.metrics_endpoint import serve_metrics_when_started
from configsvc.celery.preflight import broker_reachable
from configsvc.celery.rollout_command import hear_rollout_when_started
from configsvc.celery.web_listener import listen_in_web_processes
from configsvc.credentials.provided import ProvidedCredentials
from configsvc.errors import AlreadyRegistered, CeleryNotConfigured, ConfigError, ConfigWarning
from configsvc.flask.staging import staged_mode
from configsvc.flask.state import ConfigState, find_state
from configsvc.sources.celery_variables import celery_variable_problems

if TYPE_CHECKING:
    from celery import Task
    from celery.backends.base import Backend
    from celery.result import AsyncResult
    from kombu.connection import Connection

EXTENSION_KEY = "celery"
WORKER_CONSUMER = "configsvc.celery.consumer:Consumer"
TASK_CLASS = "configsvc.celery.task:AppContextTask"
ROTATION_STEP = "configsvc.celery.rotation:RotationStep"


def _warn_about_replaced(in_code: dict[str, Any], settings: dict[str, Any],
                         state: ConfigState | None) -> None:
    """One warning per Celery setting set in code before ``init_app`` that the configuration replaces."""
    entries = {e.key: e for e in state.config.entries()} if state is not None else {}
    for key, value in in_code.items():
        if key in settings and settings[key] != value:
            entry = entries.get(f"celery.{key}")
            where = f" (from {entry.source}: {entry.origin})" if entry is not None else ""
            warnings.warn(ConfigWarning(
                f"celery.conf.{key} was set in code before init_app and is replaced by the configuration's "
                f"value{where}; set celery.{key} in the defaults file or the deployment file instead, or "
                "set it after celery.init_app(app)"), stacklevel=4)


class FlaskCelery(celery_internals.PlaceholderHooks):
    """The Celery placeholder: ``celery = FlaskCelery("yourapp")`` at import, ``celery.init_app(app)`` in
    the factory. Tasks run inside the bound app's context; the worker follows new broker settings."""

    def __init__(self, main: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("task_cls", TASK_CLASS)
        super().__init__(main, **kwargs)
        #: What this Celery app shares with the Flask app it is bound to (None before ``init_app``).
        self.binding: Binding | None = None
        # By name: Celery imports the step in a worker only (web processes never load the worker's parts).
        self.steps["consumer"].add(ROTATION_STEP)

    @property
    def bound_flask_app(self) -> Flask | None:
        """The Flask app this Celery app is bound to, or None before ``init_app``."""
        return self.binding.app if self.binding is not None else None

    @property
    def flask_app(self) -> Flask:
        """The Flask app this Celery app is bound to; raises :class:`CeleryNotConfigured` when none is."""
        if self.binding is None:
            raise CeleryNotConfigured()
        return self.binding.app

    @property
    def is_bound(self) -> bool:
        """True once ``init_app`` has bound a configuration."""
        return self.binding is not None

    def init_app(self, app: Flask) -> None:
        """Bind ``app.config["CELERY"]`` (broker, backend, every setting) into this Celery app, run tasks
        in ``app``'s context, follow ``ConfigService`` reloads; register as ``app.extensions["celery"]``.

        Binding to another app replaces everything from the earlier binding, connections included.
        """
        if EXTENSION_KEY in app.extensions:
            raise AlreadyRegistered(
                "a Celery app is already registered on this Flask app; build a new Flask app (call your "
                "factory again) to bind a new configuration instead of calling init_app twice")
        state = find_state(app)
        refused = celery_variable_problems(
            os.environ, state.service.options.env_prefix if state is not None else "APP_",
            (app.config.get("CELERY") or {}).get("broker_url"))
        if refused:  # Celery reads these from this process's environment, whatever configsvc resolved
            raise ConfigError(refused)
        # The providers fetch first: one that fails refuses the binding before anything is changed.
        if state is not None:
            credentials = ProvidedCredentials.from_config(state.config, state.inputs.environ)
        else:  # an app without ConfigService: its app.config is all there is
            credentials = ProvidedCredentials.from_tree({"credentials": app.config.get("CREDENTIALS")},
                                                        os.environ)
        settings = embedded_settings(dict(app.config.get("CELERY") or {}))
        settings.setdefault("worker_consumer", WORKER_CONSUMER)
        # Settings the app set in code before the first binding (celery.conf.update(...) at import) are
        # kept where the configuration says nothing of them, and named where it gives another value.
        in_code = {} if self.binding is not None else celery_internals.settings_set_in_code(self)
        self.reset_connections()
        celery_internals.reset_settings(self.conf, {**in_code, **settings})
        _warn_about_replaced(in_code, settings, state)
        self.main = app.import_name
        prepare_folders(settings)
        quiet_hostless_warnings(lambda: str(self.conf.broker_url or ""))
        old = self.binding
        if old is not None and old.renewal is not None:
            old.renewal.close()
        self.binding = Binding(self, app, state, credentials)
        if state is not None:
            state.add_participant(self.binding)
            follow_rotation_in_beat(self)
            serve_metrics_when_started(self)
            hear_rollout_when_started(self)
            if staged_mode(state.config):
                listen_in_web_processes(app, self)
        app.extensions[EXTENSION_KEY] = self

    def reset_connections(self) -> None:
        """Close and forget every connection of an earlier binding: broker pool, producer pool, backend."""
        old = celery_internals.take_broker_pool(self)
        if old is not None:
            kombu_internals.forget_pool(old)
            kombu_internals.close_pool(old)
        celery_internals.drop_backends(self)

    def credentials_status(self) -> dict[str, Any]:
        """``credentials`` (ok | refresh failing | expired) and ``credentials_expire_at`` when a provider
        gives the broker's or backend's credentials; empty otherwise."""
        return self.binding.credentials_status() if self.binding is not None else {}

    def broker_reachable(self, timeout: float = 1.5) -> bool:
        """True when the bound broker accepts a connection within ``timeout`` seconds (one attempt)."""
        return broker_reachable(self, timeout)

    def task_base(self, base: type[Task] | None) -> type[Task] | None:
        """A custom task base class gets the app context too: AppContextTask is mixed in front of it."""
        from configsvc.celery.task import AppContextTask

        if base is not None and not issubclass(base, AppContextTask):
            base = type(base.__name__, (AppContextTask, base), {"__module__": base.__module__})
        return base

    def backend_issued(self, backend: Backend) -> None:
        """Track each result backend handed out (a backend change retires them all)."""
        binding = self.binding
        if binding is None:
            raise CeleryNotConfigured()
        celery_internals.subscribe_only_when_waiting(backend)
        with contextlib.suppress(TypeError):  # a backend that cannot be weakly referenced is not tracked
            binding.connections.issued_backends.add(backend)
        if binding.renewal is not None:
            binding.renewal.backend_issued(backend)

    def connection_built(self, connection: Connection) -> Connection:
        """Every broker connection Celery builds gets the provider's user and password (when one gives
        them)."""
        binding = self.binding
        if binding is None or binding.renewal is None:
            return connection
        return binding.renewal.connection(connection)

    # Everything that reaches a broker or backend goes through one of these.
    def connection_for_write(self, url: str | None = None, **kwargs: Any) -> Connection:
        self.flask_app  # noqa: B018 - raises when not bound
        connection: Connection = super().connection_for_write(url, **kwargs)
        return connection

    def connection_for_read(self, url: str | None = None, **kwargs: Any) -> Connection:
        self.flask_app  # noqa: B018
        connection: Connection = super().connection_for_read(url, **kwargs)
        return connection

    def send_task(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish; when the broker refuses the credentials, read the configuration again at once (it may
        have just changed) and try once more."""
        self.flask_app  # noqa: B018
        try:
            return super().send_task(*args, **kwargs)
        except Exception as error:
            binding = self.binding
            if binding is None or not is_auth_failure(error):
                raise
            if binding.renewal is not None:
                binding.renewal.refused("broker_url")  # a provider's credential: a new one is fetched now
            if binding.state is None:
                raise
            binding.reload(force=True)
        return super().send_task(*args, **kwargs)
