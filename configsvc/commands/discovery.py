"""Finding the app whose configuration the CLI resolves, the way ``flask`` finds an app.

``--app IMPORT`` (``yourapp`` or ``yourapp:create_app()``), else ``FLASK_APP``, else ``wsgi.py``, ``app.py``
or an ``app`` package in the working directory. The app's factory runs only as far as
``ConfigService.init_app``, which hands over its options instead of resolving (see
:mod:`configsvc.flask.discovery`), so a bad configuration is reported, not raised from the factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.cli import NoAppException, ScriptInfo

from configsvc.errors import ConfigError, Problem
from configsvc.flask.discovery import Discovered, discovering
from configsvc.flask.extension import ConfigService, app_celery_settings
from configsvc.flask.state import find_state

NO_APP = ("no app found (--app, FLASK_APP, wsgi.py, app.py or an app package in the working directory); "
          "resolving with configsvc's default options")


@dataclass(frozen=True)
class Target:
    """Whose configuration a command resolves: an app's ``ConfigService``, or the default options."""

    service: ConfigService
    root_path: Path | None
    instance_path: Path | None
    #: How the options were found, for a note to the user (None: found the app as asked).
    note: str | None = None
    #: The Celery settings the app put in ``app.config["CELERY"]`` before ``init_app`` (a layer).
    app_celery: Mapping[str, Any] | None = None


def default_target(note: str) -> Target:
    """configsvc's default options (``APP_*``, ``FLASK_CONFIG``, ``./defaults.yaml``)."""
    return Target(ConfigService(), None, None, note)


def find_target(app_import: str | None, environ: Mapping[str, str],
                create_app: Callable[..., Flask] | None = None, cwd: Path | None = None) -> Target:
    """The app named by ``app_import``, ``FLASK_APP`` or found in the working directory.

    An app that is named but cannot be loaded is an error (:class:`ConfigError`); when no app is named and
    none is found, the default options are used, with a note saying so.
    """
    named = app_import or environ.get("FLASK_APP") or None
    cwd = cwd or Path.cwd()
    if named is None and create_app is None and not any(
            (cwd / name).exists() for name in ("wsgi.py", "app.py", "app/__init__.py")):
        return default_target(NO_APP)
    info = ScriptInfo(app_import_path=named, create_app=create_app, set_debug_flag=False,
                      load_dotenv_defaults=False)
    try:
        with discovering():
            app = info.load_app()
    except Discovered as found:
        return Target(found.service, Path(found.app.root_path), Path(found.app.instance_path),
                      app_celery=app_celery_settings(found.app))
    except NoAppException as error:
        if named is None and create_app is None and "Could not locate" in error.format_message():
            return default_target(NO_APP)
        raise ConfigError(Problem(f"the app cannot be loaded: {error.format_message()}",
                                  kind="config", source="app")) from None
    except Exception as error:  # the app's own code failed before it reached ConfigService
        raise ConfigError(Problem(f"the app {named or ''} failed to load ({type(error).__name__})",
                                  kind="config", source="app")) from None
    state = find_state(app)  # built elsewhere (a custom create_app that already ran init_app)
    if state is not None:
        return Target(state.service, Path(app.root_path), Path(app.instance_path))
    return default_target(f"the app {app.import_name!r} does not use configsvc's ConfigService; resolving "
                          "with configsvc's default options")
