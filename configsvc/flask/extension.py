"""``ConfigService``: the Flask extension that resolves an app's configuration and keeps it current.

Created unbound at import (``config = ConfigService(env_prefix="APP_", ...)``), bound in the app factory
(``config.init_app(app)``), which does one thing in four steps: it resolves (raising
:class:`configsvc.ConfigError`), fills ``app.config``, registers one state object as
``app.extensions["configsvc"]`` and from then on follows the deployment file. The ``flask configsvc``
commands come from the package's ``flask.commands`` entry point, not from ``init_app``. A good change
is applied key by key; a bad one is refused and the app keeps the last good one.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Generic, cast

import click
from flask import Flask
from typing_extensions import TypeVar

from configsvc import metrics
from configsvc.core.config import Config
from configsvc.errors import AlreadyRegistered, ConfigError, ConfigUsageError, ConfigWarning
from configsvc.flask import discovery
from configsvc.flask.flask_internals import current_app_context
from configsvc.flask.pinning import pin_app_config, pinned_config
from configsvc.flask.reloader import DEFAULT_INTERVAL, Reloader
from configsvc.flask.sessions import reuse_session_serializer
from configsvc.flask.staging import start_settled
from configsvc.flask.state import EXTENSION_KEY, ConfigState, ResolveInputs, find_state
from configsvc.formats.mounts import is_single_file_mount
from configsvc.metrics.recording import record
from configsvc.options import (
    DEFAULT_DEPLOYMENT_FILE,
    DEFAULT_FILE_VARIABLE,
    DEFAULT_PREFIX,
    DEFAULTS_FILE,
    Options,
    SchemaType,
)
from configsvc.resolution import resolve

logger = logging.getLogger("configsvc.reload")

INTERVAL_KEY = "config_reload_interval"
METRICS_KEY = "metrics.enabled"
ReloadHook = Callable[[Config, Config], None]
#: The type of ``ConfigService(settings=Model).settings``: the model (Any without one).
SettingsT = TypeVar("SettingsT", default=Any)


class ConfigService(Generic[SettingsT]):
    """The configuration of a Flask app: ``ConfigService(...)`` at import, ``init_app(app)`` in the factory.

    The options say where the app's configuration comes from (see :class:`configsvc.Options`); their
    defaults are the contract's names. Three steps of ``init_app`` can be turned off:

    - ``reuse_sessions``: give the app a session interface that keeps its signing serializer until the
      keys change (:mod:`configsvc.flask.sessions`); off, Flask's own builds one per request.
    - ``reload_on_sighup``: make SIGHUP force a reload in the main thread, unless another handler owns the
      signal (a server that owns signals can call ``state.sighup_handler()`` itself).
    - ``warn_about_bind_mounts``: log a warning at start for a watched file that is a single-file bind
      mount (a replaced file would never be seen).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        defaults: str | os.PathLike[str] | None = DEFAULTS_FILE,
        env_prefix: str = DEFAULT_PREFIX,
        file_variable: str = DEFAULT_FILE_VARIABLE,
        default_file: str | os.PathLike[str] | None = DEFAULT_DEPLOYMENT_FILE,
        schema: Mapping[str, SchemaType] | None = None,
        settings: type[SettingsT] | None = None,
        example_files: Sequence[str | os.PathLike[str]] = (),
        reuse_sessions: bool = True,
        reload_on_sighup: bool = True,
        warn_about_bind_mounts: bool = True,
    ) -> None:
        self.options = Options(defaults=defaults, env_prefix=env_prefix, file_variable=file_variable,
                               default_file=default_file, schema=dict(schema or {}), settings=settings,
                               example_files=example_files)
        self.reuse_sessions = reuse_sessions
        self.reload_on_sighup = reload_on_sighup
        self.warn_about_bind_mounts = warn_about_bind_mounts
        #: The hooks ``on_reload`` registered, called in order after each new configuration.
        self.reload_hooks: list[ReloadHook] = []
        #: The hooks ``on_change`` registered, with the dotted keys each follows.
        self.change_hooks: list[tuple[tuple[str, ...], ReloadHook]] = []
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"<ConfigService {self.options.env_prefix}* {self.options.file_variable}>"

    def init_app(self, app: Flask, overrides: Mapping[str, Any] | None = None, *,
                 environ: Mapping[str, str] | None = None) -> None:
        """Resolve the app's configuration into ``app.config`` and follow the deployment file from now on.

        ``overrides`` is the highest layer (tests, embedding); ``environ`` defaults to the process
        environment. Raises :class:`configsvc.ConfigError` listing every problem found.
        """
        if EXTENSION_KEY in app.extensions:
            raise AlreadyRegistered(
                "ConfigService is already registered on this Flask app; build a new app (call your "
                "factory again) to resolve a new configuration")
        discovery.offer(self, app)
        inputs = ResolveInputs(
            environ=os.environ if environ is None else environ, overrides=overrides,
            root_path=app.root_path, instance_path=app.instance_path,
            cwd=Path.cwd(),  # a relative deployment file stays the same file if the process changes folder
            app_celery=app_celery_settings(app),  # Flask's Celery pattern: kept as a layer, reloads too
        )
        # 1. resolve
        try:
            config = self.resolve(inputs.environ, inputs.overrides, root_path=inputs.root_path,
                                  instance_path=inputs.instance_path, cwd=inputs.cwd,
                                  app_celery=inputs.app_celery)
        except ConfigError as error:
            if click.get_current_context(silent=True) is None or isinstance(error, click.ClickException):
                raise
            raise for_the_command_line(error) from None
        # In staged mode, what the last rollout settled when the files hold a change none completed.
        config, staged, rejected = start_settled(config, inputs.environ, self.options.env_prefix,
                                                 lambda kept: self.resolve_from(inputs, kept))
        # 2. fill app.config
        warn_about_replaced_settings(app, config)
        app.config.from_mapping(config.flask_mapping())
        # 3. register
        state = ConfigState(self, app, config, inputs)
        state.staged, state.rejected = staged, set(rejected)
        app.extensions[EXTENSION_KEY] = state
        pin_app_config(app, state)  # a request or a task reads one configuration from start to end
        if config.reveal(METRICS_KEY):  # prometheus_client is imported only here (configsvc.metrics)
            from configsvc.metrics.web import serve_on_app

            serve_on_app(app, state)
        metrics.running(config.fingerprint, None, stale=False)
        if staged is not None:
            record.rollout_step("staged")
        # 4. follow the files
        watched = watched_files(config, inputs.cwd)
        interval = config.reveal(INTERVAL_KEY, DEFAULT_INTERVAL)
        state.reloader = Reloader(state, watched=watched,
                                  interval=float(interval if interval is not None else DEFAULT_INTERVAL))
        state.reloader.start()
        # The optional steps (see the class).
        if self.reload_on_sighup:
            state.reloader.install_sighup()
        if self.reuse_sessions:
            reuse_session_serializer(app)
        if self.warn_about_bind_mounts:
            warn_about_bind_mounts(watched)

    def resolve(
        self,
        environ: Mapping[str, str] = os.environ,
        overrides: Mapping[str, Any] | None = None,
        *,
        root_path: str | os.PathLike[str] | None = None,
        instance_path: str | os.PathLike[str] | None = None,
        cwd: Path | None = None,
        emit_warnings: bool = True,
        app_celery: Mapping[str, Any] | None = None,
    ) -> Config:
        """Resolve with this service's options, without an app (``root_path``: where the app's defaults
        file is relative to; ``instance_path``: the embedded broker's folder). Raises ConfigError."""
        return resolve(environ, overrides, options=self.options, root_path=root_path,
                       instance_path=instance_path, cwd=cwd, emit_warnings=emit_warnings,
                       app_celery=app_celery)

    def resolve_from(self, inputs: ResolveInputs, kept: Mapping[str, bytes]) -> Config:
        """Resolve as ``init_app`` did, from the files' bytes a host kept (by role) instead of the files."""
        return resolve(inputs.environ, inputs.overrides, options=self.options, root_path=inputs.root_path,
                       instance_path=inputs.instance_path, cwd=inputs.cwd, emit_warnings=False,
                       app_celery=inputs.app_celery, pinned=kept)

    @property
    def settings(self) -> SettingsT:
        """The app's settings model instance (frozen) for the current app: in a request or a task, the one
        it read first, however many reloads happen meanwhile (:mod:`configsvc.flask.pinning`)."""
        if self.options.settings_model is None:
            raise ConfigUsageError(f"{self!r} has no settings model: pass settings=YourModel to have "
                                   "config.settings")
        context = current_app_context(None)
        if context is None:
            raise ConfigUsageError("config.settings is read in an app context: a request, a task, or "
                                   "`with app.app_context():`")
        # An instance of the model this service was built with: SettingsT (the type checker cannot follow).
        return cast(SettingsT, pinned_config(self.state(context.app)).settings)

    def on_reload(self, hook: ReloadHook) -> ReloadHook:
        """Register ``hook(old, new)``, called in each process after a new configuration is applied (a
        decorator). For the app's own resources: database pools, API clients."""
        self.reload_hooks.append(hook)
        return hook

    def on_change(self, *keys: str) -> Callable[[ReloadHook], ReloadHook]:
        """Register ``hook(old, new)`` (two :class:`configsvc.Config`), called in each process after a new
        configuration is applied that changed one of the dotted ``keys`` or a key under one of them (a
        decorator: ``@config.on_change("feature.limit", "celery.broker_url")``), and only then."""
        if not keys or not all(isinstance(key, str) and key.strip() for key in keys):
            raise ConfigUsageError(
                "on_change needs one or more dotted keys: @config.on_change('feature.limit')")

        def register(hook: ReloadHook) -> ReloadHook:
            self.change_hooks.append((keys, hook))
            return hook

        return register

    def state(self, app: Flask) -> ConfigState:
        """The app's state (``app.extensions["configsvc"]``); raises :class:`configsvc.ConfigUsageError`
        when ``init_app`` did not run for this service."""
        state = find_state(app)
        if state is None or state.service is not self:
            raise ConfigUsageError(f"{self!r} is not registered on {app!r}; call init_app(app) first")
        return state


def for_the_command_line(error: ConfigError) -> ConfigError:
    """``error`` as a click error too (of its own class, so ``except FileError`` still catches it): a
    command line that builds the app (``flask run``) prints ``error: <message>`` and exits 1, no
    traceback."""
    base = type(error)
    kind = _command_line_kinds.get(base)
    if kind is None:
        kind = _command_line_kinds[base] = type(base.__name__, (base, click.ClickException),
                                                {"show": _show, "__module__": base.__module__})
    copy: ConfigError = kind(error.problems)
    copy.warnings = error.warnings
    return copy


def _show(self: click.ClickException, file: IO[Any] | None = None) -> None:
    click.echo(f"error: {self}", file=file, err=file is None)


_command_line_kinds: dict[type[ConfigError], type[ConfigError]] = {}


def app_celery_settings(app: Flask) -> Mapping[str, Any] | None:
    """The Celery settings the app put in ``app.config["CELERY"]`` before ``init_app`` (Flask's Celery
    pattern), or None."""
    settings = app.config.get("CELERY")
    return settings if isinstance(settings, Mapping) and settings else None


def warn_about_replaced_settings(app: Flask, config: Config) -> None:
    """One warning per key the app set in ``app.config`` before ``init_app`` (other than ``CELERY``, which
    is a layer of its own) that the configuration now gives another value: never replaced silently."""
    untouched = app.make_config()  # what Flask itself puts there (DEBUG from FLASK_DEBUG included)
    resolved = config.flask_mapping()
    for key, value in app.config.items():
        if key == "CELERY" or key not in resolved or (key in untouched and untouched[key] == value):
            continue
        if resolved[key] != value:
            entry = next((e for e in config.entries() if e.key.split(".")[0] == key.lower()), None)
            where = f" (from {entry.source}: {entry.origin})" if entry is not None else ""
            warnings.warn(ConfigWarning(
                f"app.config[{key!r}] was set before init_app and is replaced by the configuration's "
                f"value{where}; set {key.lower()} in the defaults file or the deployment file instead, "
                "or set it after init_app"), stacklevel=3)


def warn_about_bind_mounts(files: list[Path]) -> None:
    """One warning per file that is a single-file bind mount: changes made on the host by replacing the
    file (as editors and secret tools do) will never be seen by this process."""
    for path in files:
        if is_single_file_mount(path):
            logger.warning(
                "configsvc: %s is a single-file bind mount (docker -v file:file, or a Kubernetes subPath): "
                "when it is replaced on the host this process keeps seeing the old file and will not "
                "reload; mount its folder instead", path)


def watched_files(config: Config, cwd: Path) -> list[Path]:
    """Every file the configuration came from that can change: the deployment file, its key file, and
    the files ``*_FILE`` variables name (relative ones from the folder the process started in)."""
    return [cwd / path for path in config.watched_files]
