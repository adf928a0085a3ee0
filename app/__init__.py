"""The Flask application factory."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

import configsvc
from configsvc.flask.extension import LiveConfig


def _print_config_errors(previous: object) -> object:
    """An excepthook: a ConfigError that reaches the top (``flask run``) prints as a message, exit 1."""

    def hook(kind: type[BaseException], error: BaseException, traceback: object) -> None:
        if isinstance(error, configsvc.ConfigError):
            print(f"error: {error}", file=sys.stderr)
        else:
            previous(kind, error, traceback)  # type: ignore[operator]

    return hook


sys.excepthook = _print_config_errors(sys.excepthook)  # type: ignore[assignment]


def create_app(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> Flask:
    """Build the app: resolve the configuration, put it in ``app.config``, bind Celery, and keep both
    current while the deployment file changes (a bad change is refused; see ``configsvc.flask.reloader``).

    ``overrides`` is the highest-precedence layer (for tests and embedding); ``environ`` defaults to
    the process environment. Raises :class:`configsvc.ConfigError` listing every problem.
    """
    app = Flask(__name__)
    environ = os.environ if environ is None else environ
    instance_path = Path(app.instance_path)

    def resolve(emit_warnings: bool = True) -> configsvc.Config:
        return configsvc.resolve(environ, overrides, instance_path=instance_path, emit_warnings=emit_warnings)

    # Resolves now (raising ConfigError), then keeps app.config and Celery current as the file changes.
    LiveConfig(resolve, app, key_environ=environ)

    from app import tasks  # noqa: F401 - registers the tasks on the placeholder
    from app.extensions import celery

    celery.init_app(app)

    from app import views

    app.register_blueprint(views.bp)
    return app
