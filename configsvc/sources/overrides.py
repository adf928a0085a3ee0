"""``create_app(overrides)``: a mapping given in code, for tests and embedding; highest precedence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from configsvc.sources.base import Layer, Source

SOURCE_NAME = "overrides"


class Overrides(Source):
    """A mapping passed in code, as a layer."""

    name = SOURCE_NAME

    def __init__(self, overrides: Mapping[str, Any] | None) -> None:
        self.overrides = overrides

    def load(self) -> Layer | None:
        """The mapping as given (copied), or None when there is none."""
        if not self.overrides:
            return None
        return Layer(self.name, copy_tree(self.overrides))


def copy_tree(value: Any) -> Any:
    """A copy of mappings and lists given in code (the values themselves are not copied)."""
    if isinstance(value, Mapping):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_tree(v) for v in value]
    return value
