"""Where the project's folders are, found from the installed packages, never the working directory.

A worker started from ``/`` and the web app started from the project folder find the same ``settings/``
and the same instance folder.
"""

from __future__ import annotations

from pathlib import Path

from flask.sansio.scaffold import find_package

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_IMPORT_NAME = "app"


def settings_dir() -> Path:
    """The shipped ``settings/`` folder beside the ``configsvc`` package."""
    return PROJECT_ROOT / "settings"


def instance_dir(import_name: str = APP_IMPORT_NAME) -> Path:
    """The Flask instance folder of the application package, computed by Flask's own rule."""
    prefix, package_path = find_package(import_name)
    if prefix is None:
        return Path(package_path) / "instance"
    return Path(prefix) / "var" / f"{import_name}-instance"
