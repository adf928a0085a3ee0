"""The resolved configuration as a Flask extension, kept current while the app runs.

``LiveConfig(resolve).init_app(app)`` resolves once (raising :class:`configsvc.ConfigError`), fills
``app.config``, and registers ``app.extensions["configsvc"]`` (the :class:`Config`) and
``app.extensions["configsvc.reloader"]`` (the :class:`Reloader` watching the deployment file). A good
new configuration updates ``app.config`` and the bound Celery app (broker, backend, settings); a bad one
is refused and the app keeps running on the last good one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask

from configsvc.core.config import Config
from configsvc.crypto import keys
from configsvc.flask.reloader import DEFAULT_INTERVAL, Reloader

CONFIG_EXTENSION = "configsvc"
RELOADER_EXTENSION = "configsvc.reloader"
INTERVAL_KEY = "config_reload_interval"


class LiveConfig:
    """Flask extension: ``LiveConfig(resolve, app)`` or ``LiveConfig(resolve).init_app(app)``.

    ``resolve(emit_warnings=True)`` returns a fresh :class:`Config`; reloads pass ``emit_warnings=False``
    and log the warnings of a new configuration as lines instead.
    """

    def __init__(self, resolve: Callable[..., Config], app: Flask | None = None, *,
                 key_environ: Any = None) -> None:
        self.resolve = resolve
        self.key_environ = key_environ or {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> Reloader:
        """Resolve, fill ``app.config``, and start watching the deployment file; returns the reloader."""
        config = self.resolve()
        app.config.from_mapping(config.flask_mapping())
        app.extensions[CONFIG_EXTENSION] = config
        app_ref = weakref.ref(app)

        def apply(old: Config, new: Config) -> None:
            target = app_ref()
            if target is not None:
                check_config(target, new)
                apply_config(target, old, new)

        interval = config.reveal(INTERVAL_KEY, DEFAULT_INTERVAL)
        reloader = Reloader(
            config, lambda: self.resolve(emit_warnings=False), apply,
            watched=watched_files(config, self.key_environ),
            interval=float(interval if interval is not None else DEFAULT_INTERVAL),
            alive=lambda: app_ref() is not None,
        )
        app.extensions[RELOADER_EXTENSION] = reloader
        reloader.start()
        reloader.install_sighup()
        return reloader


def watched_files(config: Config, environ: Any) -> list[Any]:
    """The deployment file and, when it has encrypted values, its master key file."""
    if config.deployment_file is None:
        return []
    files = [config.deployment_file]
    key_file = keys.key_file_path(environ, config.deployment_file)
    if key_file is not None:
        files.append(key_file)
    return files


def apply_config(app: Flask, old: Config, config: Config) -> None:
    """Switch a running app from ``old`` to ``config``: ``app.config``, the extension, the Celery app."""
    mapping = config.flask_mapping()
    for gone in set(old.flask_mapping()) - set(mapping) - set(Flask.default_config):
        app.config.pop(gone, None)
    app.config.update(mapping)
    app.extensions[CONFIG_EXTENSION] = config
    celery = app.extensions.get("celery")
    if celery is not None and getattr(celery, "_flask_app", None) is app:
        celery.reconfigure(config.celery_settings())


def check_config(app: Flask, config: Config) -> None:
    """Before switching: raise :class:`ConfigError` when the broker or backend refuses the new
    credentials, so the process stays on the last good configuration."""
    celery = app.extensions.get("celery")
    if celery is not None and getattr(celery, "_flask_app", None) is app:
        celery.preflight(config.celery_settings())
