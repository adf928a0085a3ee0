"""The defaults an app's settings model declares: the lowest of the app's layers, above configsvc's own."""

from __future__ import annotations

from configsvc.sources.base import Layer, Source
from configsvc.sources.overrides import copy_tree
from configsvc.typed import SettingsModel


class ModelDefaults(Source):
    """A settings model's declared defaults, as a layer (``show`` names the model)."""

    def __init__(self, model: SettingsModel | None) -> None:
        self.model = model
        self.name = f"settings model {model.name}" if model is not None else "settings model"

    def load(self) -> Layer | None:
        if self.model is None or not self.model.defaults:
            return None
        return Layer(self.name, copy_tree(self.model.defaults), defaults=True,
                     secret_paths=self.model.secret_paths)
