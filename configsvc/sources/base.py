"""The one interface every source of configuration implements (the layer it produces is
:class:`configsvc.core.layer.Layer`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from configsvc.core.layer import Layer

__all__ = ["Layer", "Source"]


class Source(ABC):
    """Something configuration comes from. ``load`` returns its layer, or None when it has nothing."""

    name: str

    @abstractmethod
    def load(self) -> Layer | None:
        """Read the source. Raises :class:`configsvc.ConfigError` when it cannot be read."""
