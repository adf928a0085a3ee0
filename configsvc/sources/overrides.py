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
        return Layer(self.name, _copy(self.overrides))


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
