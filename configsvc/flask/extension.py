"""``ConfigService``: the Flask extension that resolves an app's configuration and keeps it current.

Created unbound at import (``config = ConfigService(env_prefix="APP_", ...)``), bound in the app factory
(``config.init_app(app)``): it resolves (raising :class:`configsvc.ConfigError`), fills ``app.config``,
registers one state object as ``app.extensions["configsvc"]`` and from then on follows the deployment
file. A good change is applied key by key; a bad one is refused and the app keeps the last good one.
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flask import Flask

from configsvc.core.config import Config
from configsvc.core.resolve import resolve
from configsvc.crypto import keys
from configsvc.errors import AlreadyRegistered, ConfigWarning, DecryptError, Problem
from configsvc.flask import discovery
from configsvc.flask.changes import apply_to_flask
from configsvc.flask.reloader import DEFAULT_INTERVAL, Reloader
from configsvc.flask.sessions import reuse_session_serializer
from configsvc.flask.state import EXTENSION_KEY, ConfigState, find_state
from configsvc.formats.mounts import is_single_file_mount
from configsvc.options import (
    DEFAULT_DEPLOYMENT_FILE,
    DEFAULT_FILE_VARIABLE,
    DEFAULT_PREFIX,
    DEFAULTS_FILE,
    Options,
    SchemaType,
)

logger = logging.getLogger("configsvc.reload")

INTERVAL_KEY = "config_reload_interval"
ReloadHook = Callable[[Config, Config], None]


class ConfigService:
    """The configuration of a Flask app: ``ConfigService(...)`` at import, ``init_app(app)`` in the factory.

    The options say where the app's configuration comes from (see :class:`configsvc.Options`); their
    defaults are the contract's names.
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
        example_files: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.options = Options(defaults=defaults, env_prefix=env_prefix, file_variable=file_variable,
                               default_file=default_file, schema=dict(schema or {}),
                               example_files=example_files)
        self._reload_hooks: list[ReloadHook] = []
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
        environ = os.environ if environ is None else environ
        cwd = Path.cwd()  # a relative deployment file stays the same file if the process changes folder
        app_celery = app_celery_settings(app)  # Flask's Celery pattern: kept as a layer, reloads too

        def resolve_now(emit_warnings: bool = True) -> Config:
            return self.resolve(environ, overrides, root_path=app.root_path, instance_path=app.instance_path,
                                cwd=cwd, emit_warnings=emit_warnings, app_celery=app_celery)

        config = resolve_now()
        warn_about_replaced_settings(app, config)
        app.config.from_mapping(config.flask_mapping())
        reuse_session_serializer(app)
        state = ConfigState(self, config)
        app.extensions[EXTENSION_KEY] = state
        app_ref = weakref.ref(app)

        def switch(old: Config, new: Config, forced: bool) -> None:
            target = app_ref()
            if target is not None:
                refuse_format_change(old, new, environ)
                self._switch(target, state, old, new, forced)

        warn_about_bind_mounts(watched_files(config, cwd))
        interval = config.reveal(INTERVAL_KEY, DEFAULT_INTERVAL)
        state.reloader = Reloader(
            state, lambda: resolve_now(emit_warnings=False), switch,
            watched=watched_files(config, cwd),
            interval=float(interval if interval is not None else DEFAULT_INTERVAL),
            alive=lambda: app_ref() is not None,
        )
        state.reloader.start()
        state.reloader.install_sighup()
        from configsvc.commands.cli import flask_group

        app.cli.add_command(flask_group)

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

    def on_reload(self, hook: ReloadHook) -> ReloadHook:
        """Register ``hook(old, new)``, called in each process after a new configuration is applied (a
        decorator). For the app's own resources: database pools, API clients."""
        self._reload_hooks.append(hook)
        return hook

    def state(self, app: Flask) -> ConfigState:
        """The app's state (``app.extensions["configsvc"]``); raises when ``init_app`` did not run."""
        state = find_state(app)
        if state is None or state.service is not self:
            raise LookupError(f"{self!r} is not registered on {app!r}; call init_app(app) first")
        return state

    def _switch(self, app: Flask, state: ConfigState, old: Config, new: Config, forced: bool) -> None:
        # Every participant may refuse (raising ConfigError) before anything changes.
        for participant in state.participants:
            participant.check_config(old, new, forced=forced)
        apply_to_flask(app, old.flask_mapping(), new.flask_mapping())
        for participant in state.participants:
            participant.apply_config(old, new)
        for hook in self._reload_hooks:
            try:
                hook(old, new)
            except Exception as error:  # the configuration is applied; one hook must not undo it
                logger.error("configsvc: the on_reload hook %s failed (%s)",
                             getattr(hook, "__qualname__", hook), type(error).__name__)


def refuse_format_change(old: Config, new: Config, environ: Mapping[str, str]) -> None:
    """A running process never switches from an encrypted deployment file to another format on its own:
    not to plaintext (someone who removed the key and wrote plaintext could choose every value), unless
    the deployment opted out with ``CONFIGSVC_ALLOW_PLAINTEXT=1``; never between configsvc's format and
    SOPS (anyone can write a SOPS file for the file's public age recipients), even where both are
    accepted at start (``CONFIGSVC_ALLOW_SOPS=1``): a restart switches. Plaintext to encrypted is taken:
    nobody gains by it."""
    was, now = old.encryption, new.encryption
    if was is None or now == was:
        return
    if now is None and keys.plaintext_allowed(environ):
        return
    named = {None: "plaintext", "configsvc": "encrypted (configsvc)", "sops": "a SOPS file"}
    how = (f"restart with {keys.ALLOW_PLAINTEXT_VARIABLE}=1 to accept plaintext on purpose" if now is None
           else "restart the process to change formats")
    raise DecryptError(Problem(
        f"the deployment file was {named[was]} and is now {named[now]}: refused, a running process does "
        f"not switch formats on a reload (put the file back as it was, or {how})",
        kind="decrypt", source="deployment file",
        path=str(new.deployment_file) if new.deployment_file else None))


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
