"""The Flask application factory."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

import configsvc

CONFIG_EXTENSION = "configsvc"


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
    """Build the app: resolve the configuration once, put it in ``app.config``, bind Celery.

    ``overrides`` is the highest-precedence layer (for tests and embedding); ``environ`` defaults to
    the process environment. Raises :class:`configsvc.ConfigError` listing every problem.
    """
    app = Flask(__name__)
    config = configsvc.resolve(
        os.environ if environ is None else environ,
        overrides,
        instance_path=Path(app.instance_path),
    )
    app.config.from_mapping(config.flask_mapping())
    app.extensions[CONFIG_EXTENSION] = config

    from app import tasks  # noqa: F401 - registers the tasks on the placeholder
    from app.extensions import celery

    celery.init_app(app)

    from app import views

    app.register_blueprint(views.bp)
    return app
