"""The Celery settings an app put in ``app.config["CELERY"]`` before ``init_app``: a layer of their own.

Flask's documented Celery pattern configures Celery there (``app.config.from_object(Config)`` with
``CELERY={"broker_url": ...}``, or ``app.config.from_mapping(CELERY=...)``). An app adopting configsvc keeps
them: above the defaults files (configsvc's and the app's), below the deployment file, the environment
and overrides. ``configsvc show`` names the layer, and finds it as the app sets it, since the CLI runs the
app's factory up to ``init_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from configsvc.core.schema import CELERY_SECTION
from configsvc.sources.base import Layer, Source
from configsvc.sources.overrides import copy_tree

SOURCE_NAME = "app.config before init_app"


class AppCelerySettings(Source):
    """``app.config["CELERY"]`` as the app set it before ``init_app``, as a layer."""

    name = SOURCE_NAME

    def __init__(self, settings: Mapping[str, Any] | None) -> None:
        self.settings = settings

    def load(self) -> Layer | None:
        """The settings under ``celery`` (copied), or None when the app set none."""
        if not isinstance(self.settings, Mapping) or not self.settings:
            return None
        return Layer(self.name, {CELERY_SECTION: copy_tree(self.settings)})
