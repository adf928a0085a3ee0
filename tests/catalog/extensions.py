"""The catalog's unbound extensions: its configuration typed by its settings model."""

from __future__ import annotations

from configsvc.celery import FlaskCelery
from configsvc.flask import ConfigService
from tests.catalog.settings import Settings

config = ConfigService(settings=Settings, defaults=None, env_prefix="CATALOG_",
                       file_variable="CATALOG_CONFIG", default_file=None)
celery = FlaskCelery("catalog")
